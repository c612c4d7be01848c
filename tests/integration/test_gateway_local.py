"""An in-process classifier served as a model by `belt serve`: the answer's content is the
label, with calibrated confidence and top-k in the `belt` extension object, JSON and streamed;
and a remote model that falls back to it."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib as g  # noqa: E402

g.skip_unless_built()
EXAMPLES = [("I want my money back", "refund"), ("please refund my order", "refund"),
            ("refund the charge now", "refund"), ("money back for the broken item", "refund"),
            ("where is my package", "shipping"), ("track my delivery please", "shipping"),
            ("the parcel has not arrived", "shipping"), ("when will my order ship", "shipping")]

fake = g.Fake()
belt = None
state = {}
r = g.Runner()


def setup():
    global belt
    import tempfile
    work = tempfile.mkdtemp(prefix="belt-local-")
    data = os.path.join(work, "train.jsonl")
    with open(data, "w") as f:
        for _ in range(8):
            for text, label in EXAMPLES:
                f.write(json.dumps({"text": text, "label": label}) + "\n")
    model = os.path.join(work, "intent.belt")
    cfg = os.path.join(work, "train.yaml")
    with open(cfg, "w") as f:
        f.write("store: { path: belt.db }\n")
    res = subprocess.run([g.BIN, "-c", cfg, "train", "--data", data,
                          "-o", model, "--min-count", "1", "-t", "1", "--quiet"],
                         capture_output=True, text=True, cwd=work)
    if res.returncode != 0:
        fake.stop()
        raise SystemExit("belt train failed: " + res.stderr)
    state["work"] = work
    belt = g.Belt(f"""
store: {{ path: belt.db }}
models:
  intent: {{ provider: local, path: "{model}", top_k: 2 }}
  flaky: {{ provider: openai, base_url: "{fake.url}", model: "fake+status=503", retries: 0,
           fallbacks: [intent] }}
""")


@r.case
def local_model_answers_with_the_label():
    st, h, doc, _ = belt.chat({"model": "intent", "messages": [
        {"role": "user", "content": "refund my money please"}]})
    assert st == 200, doc
    assert doc["choices"][0]["message"]["content"] == "refund"
    ext = doc["belt"]
    assert ext["label"] == "refund" and 0.5 < ext["confidence"] <= 1.0
    assert [t["label"] for t in ext["top_k"]][0] == "refund" and len(ext["top_k"]) == 2
    assert h["x-belt-model"] == "intent" and float(h["x-belt-cost-usd"]) == 0.0


@r.case
def local_model_streams():
    st, h, raw = belt.request("POST", "/v1/chat/completions", {
        "model": "intent", "stream": True,
        "messages": [{"role": "user", "content": "where is my parcel"}]})
    ev = [p for k, p in g.sse_events(raw) if k == "data"]
    assert st == 200 and ev[-1] == "[DONE]", raw
    first = json.loads(ev[0])
    assert first["choices"][0]["delta"]["content"] == "shipping"
    assert first["belt"]["label"] == "shipping"


@r.case
def remote_failure_falls_back_to_the_local_model():
    st, h, doc, _ = belt.chat({"model": "flaky", "messages": [
        {"role": "user", "content": "track my delivery"}]})
    assert st == 200 and h["x-belt-model"] == "intent", (st, h)
    assert doc["choices"][0]["message"]["content"] == "shipping"
    rows = g.wait_for(lambda: belt.rows(
        "select s.model, s.status, s.confidence from trace_steps s join traces t on "
        "t.id = s.trace_id where t.route = 'flaky' order by s.seq"))
    assert rows[0][:2] == ("flaky", "error") and rows[1][:2] == ("intent", "ok"), rows
    assert rows[1][2] is not None and rows[1][2] > 0.5


def teardown():
    g.check_clean_exit(belt)
    fake.stop()
    belt.cleanup()
    import shutil
    shutil.rmtree(state["work"], ignore_errors=True)


setup()
r.run(teardown)
