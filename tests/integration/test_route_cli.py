"""Integration test of `belt route` (the live route executor through the real binary) against the
fake upstream: one task as text (answer + path printed), JSONL tasks on stdin in input order with
per-line metadata, stakes routing to a person, streaming, the trace written with --trace and
shown by `belt traces`, replay models fed an outcomes file, and the errors a user meets. Every run
must exit cleanly (under ASan, no leaks). Standard library only; prints TAP."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import gwlib  # noqa: E402

gwlib.skip_unless_built()
fake = gwlib.Fake()
tmp = tempfile.mkdtemp(prefix="belt-route-cli-")
store = os.path.join(tmp, "belt.db")
outcomes = os.path.join(tmp, "outcomes.jsonl")
with open(outcomes, "w") as f:
    f.write(json.dumps({"id": "q1", "query": "What is 2+2?", "models": {
        "small": {"answer": "4", "confidence": 0.95, "correct": True, "cost_usd": 1e-5},
        "large": {"answer": "4", "correct": True, "cost_usd": 1e-3}}}) + "\n")
    f.write(json.dumps({"id": "q2", "query": "Hard one", "models": {
        "small": {"answer": "5", "confidence": 0.2, "correct": False, "cost_usd": 2e-5},
        "large": {"answer": "7", "correct": True, "cost_usd": 2e-3}}}) + "\n")

CONFIG = """
store: {path: %(store)s}
models:
  small: {provider: openai, base_url: '%(url)s', model: 'fake+say=Lyon+lp=300', retries: 0,
          price: {input: 1, output: 2}}
  big:   {provider: openai, base_url: '%(url)s', model: 'fake+say=Paris', retries: 0,
          price: {input: 10, output: 30}}
  down:  {provider: openai, base_url: '%(url)s', model: 'fake+status=500', retries: 0}
  rec-small: {provider: replay, path: '%(outcomes)s', model: small}
  rec-large: {provider: replay, path: '%(outcomes)s', model: large}
routes:
  cascade: {cascade: [{model: small, accept: {logprobs: {mean: -0.5}}}, big]}
  front:
    rules:
      - {when: {stakes: high}, human: true}
    default: cascade
  replayed: {cascade: [{model: rec-small, accept: {confidence: 0.8}}, rec-large]}
""" % {"store": store, "url": fake.url, "outcomes": outcomes}
cfg = os.path.join(tmp, "belt.yaml")
with open(cfg, "w") as f:
    f.write(CONFIG)

runner = gwlib.Runner()


def belt(*args, stdin=None, expect=0):
    p = subprocess.run([gwlib.BIN, "-c", cfg] + list(args), input=stdin, capture_output=True,
                       text=True, timeout=120)
    if "Sanitizer" in p.stderr or "runtime error" in p.stderr:
        raise AssertionError("sanitizer report:\n" + p.stderr[-4000:])
    if p.returncode != expect:
        raise AssertionError("belt route %s exited %d (expected %d)\nstdout: %s\nstderr: %s" %
                             (" ".join(args), p.returncode, expect, p.stdout[-2000:],
                              p.stderr[-2000:]))
    return p


@runner.case
def text_task_prints_answer_and_path():
    out = belt("route", "cascade", "Capital of France?").stdout
    assert "answer (big):\nParis\n" in out, out
    assert "[escalated]  cascade tier 1 small: logprob mean -3 < -0.5" in out, out
    assert "[accepted]   cascade tier 2 big: no accept condition" in out, out
    assert "route cascade: answered" in out, out


@runner.case
def json_output_has_the_path():
    r = json.loads(belt("route", "--json", "cascade", "Capital of France?").stdout)
    assert r["answer"] == "Paris", r
    steps = r["route"]["steps"]
    assert [s["event"] for s in steps] == ["escalated", "accepted"], steps
    assert steps[0]["tier"] == 1 and steps[0]["signals"]["logprob_mean"] == -3, steps
    assert abs(r["route"]["cost_usd"] - (21e-6 + 270e-6)) < 1e-9, r


@runner.case
def high_stakes_go_to_a_person():
    out = belt("route", "front", "--stakes", "high", "Sign the contract").stdout
    assert "UNRESOLVED: escalated to a person" in out, out
    assert "rule 1 matched: a person" in out, out


@runner.case
def stdin_jsonl_in_order_with_metadata():
    lines = [{"id": "a", "text": "Capital of France?"},
             {"id": "b", "text": "Contract", "stakes": "high"},
             {"id": "c", "messages": [{"role": "user", "content": "Hi"}]},
             {"id": "d"}]
    p = belt("route", "front", "-j", "3", stdin="".join(json.dumps(x) + "\n" for x in lines),
             expect=1)
    res = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r.get("id") for r in res] == ["a", "b", "c", "d"], res
    assert res[0]["answer"] == "Paris" and res[0]["route"]["outcome"] == "answered", res[0]
    assert res[1]["answer"] is None and res[1]["route"]["outcome"] == "unresolved", res[1]
    assert res[1]["route"]["http_status"] == 202, res[1]
    assert res[2]["route"]["resolved"] is True, res[2]
    assert "needs" in res[3]["error"] and res[3]["line"] == 4, res[3]


@runner.case
def stream_prints_the_accepted_answer_only():
    out = belt("route", "--stream", "cascade", "Capital of France?").stdout
    assert out.startswith("Paris\n"), out
    assert "Lyon" not in out.split("route cascade")[0], out


@runner.case
def replay_models_answer_from_history():
    p = belt("route", "replayed", stdin=open(outcomes).read())
    res = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["answer"] for r in res] == ["4", "7"], res
    assert res[0]["route"]["steps"][0]["event"] == "accepted", res[0]
    assert abs(res[1]["route"]["cost_usd"] - 2.02e-3) < 1e-12, res[1]


@runner.case
def trace_is_written_and_shown():
    r = json.loads(belt("route", "--json", "--trace", "cascade", "Capital of France?").stdout)
    tid = r["route"]["trace_id"]
    db = sqlite3.connect(store)
    row = db.execute("SELECT route, model, status FROM traces WHERE id = ?", (tid,)).fetchone()
    steps = db.execute("SELECT tier, status, reason FROM trace_steps WHERE trace_id = ? "
                       "ORDER BY seq", (tid,)).fetchall()
    db.close()
    assert row == ("cascade", "big", "ok"), row
    assert steps[0] == (0, "escalated", "logprob mean -3 < -0.5"), steps
    assert steps[1][1] == "accepted", steps
    shown = belt("traces", "show", tid).stdout
    assert "logprob mean -3 < -0.5" in shown, shown


@runner.case
def errors_are_clear():
    p = belt("route", "nope", "x", expect=1)
    assert "no route or model is called 'nope'" in p.stderr, p.stderr
    p = belt("route", "down", "x", expect=1)
    assert "route down: failed" in p.stdout.replace("model down", "route down"), p.stdout
    p = belt("route", expect=2)
    assert "a route or model name is required" in p.stderr, p.stderr
    p = belt("route", "cascade", "--max-latency", "soon", "x", expect=2)
    assert "not a duration" in p.stderr, p.stderr


def teardown():
    fake.stop()


runner.run(teardown)
