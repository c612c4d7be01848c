"""The response cache of `belt serve`: deterministic requests hit, others do not; no-cache and
no-store; a cached answer replayed as a stream; a cached stream replayed; savings in metrics;
entries persisted and warmed after a restart; TTL expiry. Also `belt traces` on the result."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib as g  # noqa: E402

g.skip_unless_built()
fake = g.Fake()
U = fake.url
CONFIG = f"""
store: {{ path: belt.db }}
models:
  m1: {{ provider: openai, base_url: "{U}", model: fake, price: {{ input: 1, output: 2 }} }}
  short: {{ provider: openai, base_url: "{U}", model: fake }}
server: {{ cache: {{ enabled: true, ttl: 2s }} }}
"""
belt = g.Belt(CONFIG)
r = g.Runner()
DET = {"model": "m1", "temperature": 0, "messages": [{"role": "user", "content": "cache me"}]}


def n_upstream():
    return len(fake.requests())


@r.case
def deterministic_request_hits_the_second_time():
    fake.reset()
    st, h1, d1, raw1 = belt.chat(DET)
    assert st == 200 and h1["x-belt-cache"] == "miss", h1
    st, h2, d2, raw2 = belt.chat(DET)
    assert st == 200 and h2["x-belt-cache"] == "hit", h2
    assert raw1 == raw2
    assert h2["x-belt-cost-usd"] == "0.00000000" and h2["x-belt-model"] == "m1"
    assert n_upstream() == 1


@r.case
def equivalent_requests_share_the_key():
    fake.reset()
    same = {"messages": [{"content": [{"type": "text", "text": "cache me"}], "role": "user"}],
            "temperature": 0.0, "model": "m1", "user": "someone-else"}
    st, h, _, _ = belt.chat(same)
    assert h["x-belt-cache"] == "hit", h
    assert n_upstream() == 0


@r.case
def non_deterministic_requests_are_not_cached():
    fake.reset()
    body = {"model": "m1", "temperature": 0.7, "messages": [{"role": "user", "content": "x"}]}
    for _ in range(2):
        st, h, _, _ = belt.chat(body)
        assert h["x-belt-cache"] == "off", h
    assert n_upstream() == 2
    body = {"model": "m1", "seed": 42, "messages": [{"role": "user", "content": "x"}]}
    belt.chat(body)
    assert belt.chat(body)[1]["x-belt-cache"] == "hit"


@r.case
def no_cache_bypasses_and_no_store_does_not_write():
    fake.reset()
    st, h, _, _ = belt.chat(DET, headers={"Cache-Control": "no-cache"})
    assert h["x-belt-cache"] == "bypass" and n_upstream() == 1
    body = dict(DET, messages=[{"role": "user", "content": "never stored"}])
    belt.chat(body, headers={"Cache-Control": "no-store"})
    assert belt.chat(body)[1]["x-belt-cache"] == "miss"


@r.case
def cached_answer_is_replayed_as_a_stream():
    fake.reset()
    st, h, raw = belt.request("POST", "/v1/chat/completions",
                              dict(DET, stream=True, stream_options={"include_usage": True}))
    assert st == 200 and h["x-belt-cache"] == "hit" and h["content-type"] == "text/event-stream"
    ev = g.sse_events(raw)
    assert ev[-1] == ("data", "[DONE]")
    text = "".join(json.loads(p)["choices"][0]["delta"].get("content") or ""
                   for k, p in ev if k == "data" and p != "[DONE]" and json.loads(p)["choices"])
    assert text == "Hello from the fake upstream."
    assert n_upstream() == 0


@r.case
def cached_stream_is_replayed_as_it_was_sent():
    fake.reset()
    body = dict(DET, stream=True, messages=[{"role": "user", "content": "stream me"}])
    st, h1, raw1 = belt.request("POST", "/v1/chat/completions", body)
    assert h1["x-belt-cache"] == "miss"
    st, h2, raw2 = belt.request("POST", "/v1/chat/completions", body)
    assert h2["x-belt-cache"] == "hit" and n_upstream() == 1
    strip = lambda raw: [e for e in g.sse_events(raw) if e[0] == "data"]
    assert strip(raw1) == strip(raw2)
    st, h3, d3, _ = belt.chat(dict(body, stream=False))  # and as JSON
    assert h3["x-belt-cache"] == "hit" and d3["choices"][0]["message"]["content"]


@r.case
def hits_and_savings_in_metrics():
    _, _, raw = belt.request("GET", "/metrics")
    text = raw.decode()
    hits = [l for l in text.splitlines() if l.startswith('belt_cache_hits_total{model="m1"}')]
    assert hits and int(hits[0].split()[-1]) >= 5, hits
    saved = [l for l in text.splitlines() if l.startswith('belt_cache_saved_usd_total{model="m1"}')]
    assert float(saved[0].split()[-1]) > 0, saved
    assert "belt_cache_entries " in text


@r.case
def cache_survives_a_restart():
    belt.restart()
    fake.reset()
    st, h, _, _ = belt.chat(DET)
    assert h["x-belt-cache"] == "hit", h
    assert n_upstream() == 0


@r.case
def entries_expire_after_the_ttl():
    body = dict(DET, model="short")
    belt.chat(body)
    assert belt.chat(body)[1]["x-belt-cache"] == "hit"
    time.sleep(2.2)
    assert belt.chat(body)[1]["x-belt-cache"] == "miss"


@r.case
def traces_cli_tail_export_show():
    g.wait_for(lambda: belt.rows("select count(*) from traces where cache_hit = 1")[0][0] > 0)
    env = dict(os.environ)
    out = subprocess.run([g.BIN, "-c", belt.config, "traces", "tail", "-n", "3", "--once"],
                         capture_output=True, text=True, cwd=belt.dir, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3, out.stdout
    exp = os.path.join(belt.dir, "traces.jsonl")
    out = subprocess.run([g.BIN, "-c", belt.config, "traces", "export", "-o", exp],
                         capture_output=True, text=True, cwd=belt.dir)
    assert out.returncode == 0, out.stderr
    spans = [json.loads(l) for l in open(exp)]
    assert spans and all(len(s["trace_id"]) == 32 for s in spans)
    miss = [s for s in spans if not s["attributes"]["belt.cache_hit"]][0]
    a = miss["attributes"]
    assert a["gen_ai.request.model"] == "m1" and a["gen_ai.response.model"] == "fake"
    assert a["gen_ai.usage.input_tokens"] == 9 and a["gen_ai.usage.output_tokens"] == 6
    assert a["gen_ai.system"] == "openai" and a["gen_ai.operation.name"] == "chat"
    assert miss["events"][0]["attributes"]["belt.step.status"] == "ok"
    out = subprocess.run([g.BIN, "-c", belt.config, "traces", "show", miss["trace_id"]],
                         capture_output=True, text=True, cwd=belt.dir)
    assert out.returncode == 0 and "path:" in out.stdout and "first" in out.stdout, out.stdout
    out = subprocess.run([g.BIN, "-c", belt.config, "traces", "show", "0" * 32],
                         capture_output=True, text=True, cwd=belt.dir)
    assert out.returncode == 1 and "no trace" in out.stderr
    out = subprocess.run([g.BIN, "-c", belt.config, "traces", "bogus"], capture_output=True,
                         text=True, cwd=belt.dir)
    assert out.returncode == 2


def settle():
    """Wait until the writer caught up: the trace count stops changing."""
    last = -1
    for _ in range(50):
        n = belt.rows("select count(*) from traces")[0][0]
        if n == last:
            return
        last = n
        time.sleep(0.2)


@r.case
def tail_follows_new_traces():
    settle()
    p = subprocess.Popen([g.BIN, "-c", belt.config, "traces", "tail", "-n", "0"],
                         stdout=subprocess.PIPE, text=True, cwd=belt.dir)
    time.sleep(0.4)
    belt.chat({"model": "m1", "messages": [{"role": "user", "content": "follow me"}]})
    line = p.stdout.readline()
    p.terminate()
    p.wait(5)
    assert " m1 " in line and " 200 " in line, line


def teardown():
    g.check_clean_exit(belt)
    fake.stop()
    belt.cleanup()


r.run(teardown)
