"""Trace retention: with server.trace_retention, `belt serve` deletes expired traces and their
steps on its own while it runs (the audit log keeps its rows); `belt traces prune` does the same
by hand, also while the gateway runs; bad values are refused with the field or option named."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib as g  # noqa: E402

g.skip_unless_built()
fake = g.Fake()
U = fake.url
MODELS = f"""
store: {{ path: belt.db }}
models:
  m1: {{ provider: openai, base_url: "{U}", model: fake, price: {{ input: 1, output: 2 }} }}
"""
kept = g.Belt(MODELS + "server: { cache: { enabled: false } }\n")
expiring = g.Belt(MODELS + "server: { trace_retention: 1500ms, cache: { enabled: false } }\n")
r = g.Runner()
HELLO = [{"role": "user", "content": "hi"}]


def count(belt, table, where="1"):
    return belt.rows(f"select count(*) from {table} where {where}")[0][0]


def cli(belt, *args):
    return subprocess.run([g.BIN, "-c", belt.config, "traces"] + list(args), capture_output=True,
                          text=True, cwd=belt.dir)


@r.case
def serve_deletes_expired_traces_and_their_steps_and_keeps_the_audit():
    for _ in range(3):
        assert expiring.chat({"model": "m1", "messages": HELLO})[0] == 200
    assert g.wait_for(lambda: count(expiring, "traces") == 3)
    assert count(expiring, "trace_steps") == 3
    calls = count(expiring, "audit", "kind = 'model.call'")
    assert calls == 3, calls
    # retention 1.5 s, checked every 150 ms: gone within a few seconds, with no new request
    assert g.wait_for(lambda: count(expiring, "traces") == 0, timeout=8), \
        count(expiring, "traces")
    assert count(expiring, "trace_steps") == 0
    assert count(expiring, "audit", "kind = 'model.call'") == 3
    st, _, raw = expiring.request("GET", "/metrics")
    assert st == 200 and "\nbelt_traces_pruned_total 3\n" in raw.decode(), raw[-600:]
    st, _, raw = kept.request("GET", "/metrics")  # no retention, no counter
    assert st == 200 and "belt_traces_pruned_total" not in raw.decode()
    st, h, _, _ = expiring.chat({"model": "m1", "messages": HELLO})
    assert st == 200
    tid = h["x-belt-trace-id"]
    assert g.wait_for(lambda: count(expiring, "traces", f"id = '{tid}'") == 1)  # new ones stay


@r.case
def traces_prune_deletes_by_age_while_the_gateway_runs():
    for _ in range(2):
        assert kept.chat({"model": "m1", "messages": HELLO})[0] == 200
    assert g.wait_for(lambda: count(kept, "traces") == 2)
    time.sleep(1.0)  # traces kept without a retention setting
    assert count(kept, "traces") == 2
    out = cli(kept, "prune", "--older-than", "1h")
    assert out.returncode == 0 and out.stdout.startswith("deleted 0 traces started before"), out
    assert count(kept, "traces") == 2
    out = cli(kept, "prune", "--older-than", "0ms")
    assert out.returncode == 0 and out.stdout.startswith("deleted 2 traces"), out
    assert count(kept, "traces") == 0 and count(kept, "trace_steps") == 0
    assert count(kept, "audit", "kind = 'model.call'") == 2
    assert kept.chat({"model": "m1", "messages": HELLO})[0] == 200  # the gateway still writes
    assert g.wait_for(lambda: count(kept, "traces") == 1)


@r.case
def prune_and_retention_refuse_bad_values():
    out = cli(kept, "prune")
    assert out.returncode == 2 and "needs --older-than" in out.stderr, out
    out = cli(kept, "prune", "--older-than", "soon")
    assert out.returncode == 2 and "--older-than" in out.stderr and "'soon'" in out.stderr, out
    out = cli(expiring, "prune")  # the configuration's retention is the default
    assert out.returncode == 0 and out.stdout.startswith("deleted "), out
    bad = os.path.join(kept.dir, "bad.yaml")
    with open(bad, "w") as f:
        f.write("server:\n  trace_retention: soon\n")
    out = subprocess.run([g.BIN, "-c", bad, "config", "check"], capture_output=True, text=True)
    assert out.returncode == 1, out
    assert "bad.yaml:2:" in out.stderr and "server.trace_retention" in out.stderr, out.stderr


def teardown():
    g.check_clean_exit(kept)
    g.check_clean_exit(expiring)
    fake.stop()
    kept.cleanup()
    expiring.cleanup()


r.run(teardown)
