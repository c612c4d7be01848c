"""Graceful shutdown of `belt serve`: on SIGTERM it stops accepting, lets the requests in
flight finish, writes their traces, and exits 0 (no leaks under ASan); a request still
running after server.shutdown_timeout is cancelled."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib as g  # noqa: E402

g.skip_unless_built()
fake = g.Fake()
U = fake.url
CONFIG = f"""
store: {{ path: belt.db }}
models:
  slow: {{ provider: openai, base_url: "{U}", model: "fake+slow=800", retries: 0 }}
  slowstream: {{ provider: openai, base_url: "{U}", model: "fake+chunks=8+stream_ms=800" }}
  hang: {{ provider: openai, base_url: "{U}", model: "fake+hang", retries: 0 }}
server: {{ threads: 2, shutdown_timeout: 1s }}
"""
r = g.Runner()


def in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.update(v=fn()))
    t.start()
    return t, out


@r.case
def in_flight_requests_finish_and_are_traced():
    belt = g.Belt(CONFIG)
    t1, o1 = in_thread(lambda: belt.chat({"model": "slow", "messages": [
        {"role": "user", "content": "a"}]}))
    t2, o2 = in_thread(lambda: belt.request("POST", "/v1/chat/completions", {
        "model": "slowstream", "stream": True, "messages": [{"role": "user", "content": "b"}]}))
    time.sleep(0.3)
    belt.proc.send_signal(signal.SIGTERM)
    t1.join(10)
    t2.join(10)
    assert o1["v"][0] == 200, o1
    assert o2["v"][0] == 200 and o2["v"][2].endswith(b"data: [DONE]\n\n"), o2
    rc = belt.proc.wait(10)
    _, belt.stderr = belt.proc.communicate()
    assert rc == 0, belt.stderr
    assert "Sanitizer" not in belt.stderr, belt.stderr
    rows = belt.rows("select route, status from traces order by route")
    assert rows == [("slow", "ok"), ("slowstream", "ok")], rows
    belt.cleanup()


@r.case
def requests_past_the_grace_period_are_cancelled():
    belt = g.Belt(CONFIG)
    t, o = in_thread(lambda: belt.chat({"model": "hang", "messages": [
        {"role": "user", "content": "c"}]}))
    time.sleep(0.3)
    t0 = time.time()
    belt.proc.send_signal(signal.SIGTERM)
    rc = belt.proc.wait(10)
    took = time.time() - t0
    _, belt.stderr = belt.proc.communicate()
    t.join(10)
    assert rc == 0 and 0.9 <= took < 5, (rc, took, belt.stderr)
    assert "Sanitizer" not in belt.stderr, belt.stderr
    assert o["v"][0] == 503, o
    assert "shut down" in o["v"][2]["error"]["message"]
    assert g.wait_for(lambda: fake.stats()["client_closed"] >= 1, timeout=3)
    rows = belt.rows("select route, status, http_status from traces")
    assert rows == [("hang", "cancelled", 503)], rows
    belt.cleanup()


def teardown():
    fake.stop()


r.run(teardown)
