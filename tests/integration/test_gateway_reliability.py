"""Reliability of calls through `belt serve`: retries with backoff and Retry-After, ordered
fallbacks, circuit breakers taking a failing deployment out, weighted balancing, anthropic
translation, and the trace of every attempt."""
import json
import os
import socket
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
  good: {{ provider: openai, base_url: "{U}", model: fake, price: {{ input: 1, output: 1 }} }}
  down: {{ provider: openai, base_url: "{U}", model: "fake+status=503", retries: 1, backoff: 20ms,
          fallbacks: [also_down, good] }}
  also_down: {{ provider: openai, base_url: "{U}", model: "fake+reset", retries: 0 }}
  flaky: {{ provider: openai, base_url: "{U}", model: "fake+flaky=2", retries: 2, backoff: 10ms }}
  limited: {{ provider: openai, base_url: "{U}", model: "fake+flaky429=1", retries: 1, backoff: 10ms }}
  limited_hard: {{ provider: openai, base_url: "{U}", model: "fake+status=429+retry_after=7", retries: 0 }}
  bad_request: {{ provider: openai, base_url: "{U}", model: "fake+status=400", retries: 3,
                 fallbacks: [good] }}
  pool:
    provider: openai
    model: fake
    retries: 0
    breaker: {{ failures: 2, cooldown: 2s }}
    deployments:
      - {{ name: dead, base_url: "{U}", model: "fake+status=500", weight: 1 }}
      - {{ name: alive, base_url: "{U}", model: "fake+echo", weight: 1 }}
    fallbacks: [good]
  weighted:
    provider: openai
    retries: 0
    deployments:
      - {{ name: heavy, base_url: "{U}", model: "fake+w3", weight: 3 }}
      - {{ name: light, base_url: "{U}", model: "fake+w1", weight: 1 }}
  idle: {{ provider: openai, base_url: "{U}", model: "fake+echo+idleclose", retries: 0 }}
  big: {{ provider: openai, base_url: "{U}", model: "fake+echo", retries: 0 }}
  claude: {{ provider: anthropic, base_url: "{U}", model: claude-fake, api_key_env: ANTHROPIC_TEST_KEY,
            price: {{ input: 3, output: 15 }} }}
  claude_tools: {{ provider: anthropic, base_url: "{U}", model: "fake+tools" }}
server: {{ cache: {{ enabled: false }} }}
"""
belt = g.Belt(CONFIG, env={"ANTHROPIC_TEST_KEY": "sk-ant-test"})
r = g.Runner()
HELLO = [{"role": "user", "content": "hi"}]


def steps_of(trace_id):
    return g.wait_for(lambda: belt.rows(
        "select seq, model, deployment, status, http_status, reason from trace_steps "
        "where trace_id = ? order by seq", (trace_id,)))


@r.case
def fallbacks_are_taken_in_order_and_traced():
    st, h, doc, _ = belt.chat({"model": "down", "messages": HELLO})
    assert st == 200, (st, doc)
    assert h["x-belt-model"] == "good"
    steps = steps_of(h["x-belt-trace-id"])
    assert [(s[1], s[3], s[5]) for s in steps] == [
        ("down", "error", "first"), ("down", "error", "retry"),
        ("also_down", "error", "fallback"), ("good", "ok", "fallback")], steps
    assert steps[0][4] == 503 and steps[3][4] == 200


@r.case
def retries_recover_a_flaky_upstream():
    st, h, _, _ = belt.chat({"model": "flaky", "messages": HELLO})
    assert st == 200 and h["x-belt-model"] == "flaky"
    steps = steps_of(h["x-belt-trace-id"])
    assert [s[5] for s in steps] == ["first", "retry", "retry"], steps


@r.case
def retry_after_is_honoured():
    t0 = time.time()
    st, h, _, _ = belt.chat({"model": "limited", "messages": HELLO})
    took = time.time() - t0
    assert st == 200, st
    assert took >= 0.95, "retried after %.3fs, before Retry-After: 1" % took
    steps = steps_of(h["x-belt-trace-id"])
    assert steps[0][3] == "ratelimited" and steps[0][4] == 429 and steps[1][3] == "ok", steps


@r.case
def final_429_reaches_the_client():
    st, _, doc, _ = belt.chat({"model": "limited_hard", "messages": HELLO})
    assert st == 429 and doc["error"]["type"] == "rate_limit_error", (st, doc)


@r.case
def a_refused_request_is_neither_retried_nor_fallen_back():
    fake.reset()
    st, h, doc, _ = belt.chat({"model": "bad_request", "messages": HELLO})
    assert st == 400, (st, doc)
    assert len(fake.requests()) == 1
    assert h["x-belt-model"] == "bad_request"


@r.case
def breaker_takes_a_failing_deployment_out_and_probes_it_back():
    # a loaded machine may take longer than the cooldown for a batch: each cooldown that
    # passes allows one more probe, no more
    fake.reset()
    t0 = time.time()
    answers = [belt.chat({"model": "pool", "messages": HELLO})[0] for _ in range(30)]
    windows = int((time.time() - t0) / 2.0)
    assert all(a == 200 for a in answers), answers
    dead_hits = sum(1 for q in fake.requests() if q["body"]["model"] == "fake+status=500")
    assert 2 <= dead_hits <= 2 + windows, \
        "the dead deployment got %d requests, breaker opens after 2" % dead_hits
    _, _, raw = belt.request("GET", "/metrics")
    text = raw.decode()
    assert 'belt_upstream_up{model="pool",deployment="dead",state="open"} 0' in text, text
    assert 'belt_breaker_opened_total{model="pool",deployment="dead"} %d' % (
        1 + dead_hits - 2) in text, text
    time.sleep(2.1)  # cooldown: one probe goes to the dead deployment, fails, reopens
    fake.reset()
    t0 = time.time()
    for _ in range(10):
        assert belt.chat({"model": "pool", "messages": HELLO})[0] == 200
    windows = int((time.time() - t0) / 2.0)
    dead_hits = sum(1 for q in fake.requests() if q["body"]["model"] == "fake+status=500")
    assert 1 <= dead_hits <= 1 + windows, dead_hits


@r.case
def pooled_connections_closed_while_idle_are_replaced():
    # the upstream closes each connection right after answering (an idle timeout): the pooled
    # connection dies while belt is not using it, and the next call must not notice
    fake.reset()
    for i in range(20):
        st, h, doc, _ = belt.chat({"model": "idle", "messages": [
            {"role": "user", "content": "n%d" % i}]})
        assert st == 200, (i, st, doc)
        assert doc["choices"][0]["message"]["content"] == "n%d" % i, doc
        time.sleep(0.01 if i % 2 else 0)  # half of them after the close has arrived
    assert len(fake.requests()) == 20, len(fake.requests())


@r.case
def weighted_balancing_follows_the_weights():
    fake.reset()
    for _ in range(200):
        assert belt.chat({"model": "weighted", "messages": HELLO})[0] == 200
    models = [q["body"]["model"] for q in fake.requests()]
    heavy = models.count("fake+w3")
    assert 115 <= heavy <= 185, "heavy got %d of 200 (expected ~150)" % heavy


@r.case
def anthropic_round_trip():
    fake.reset()
    st, h, doc, _ = belt.chat({"model": "claude", "max_tokens": 50, "temperature": 0.2,
                               "stop": "END", "messages": [
                                   {"role": "system", "content": "be brief"},
                                   {"role": "user", "content": "hi"}]})
    assert st == 200, doc
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
    assert abs(float(h["x-belt-cost-usd"]) - (9 * 3 + 6 * 15) / 1e6) < 1e-12
    q = fake.requests()[-1]
    assert q["path"] == "/v1/messages"
    assert q["headers"]["x-api-key"] == "sk-ant-test"
    assert q["headers"]["anthropic-version"] == "2023-06-01"
    b = q["body"]
    assert b["system"] == "be brief" and b["max_tokens"] == 50 and b["stop_sequences"] == ["END"]
    assert b["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


@r.case
def anthropic_tool_use_maps_to_tool_calls():
    fake.reset()
    st, _, doc, _ = belt.chat({"model": "claude_tools", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "and Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "w",
                                                    "parameters": {"type": "object"}}}],
        "tool_choice": "required"})
    assert st == 200, doc
    ch = doc["choices"][0]
    assert ch["finish_reason"] == "tool_calls"
    tc = ch["message"]["tool_calls"][0]
    assert tc["id"] == "toolu_fake1" and tc["function"]["name"] == "get_weather"
    assert json.loads(tc["function"]["arguments"]) == {"city": "Paris"}
    b = fake.requests()[-1]["body"]
    assert b["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"},
                           "description": "w"}]
    assert b["tool_choice"] == {"type": "any"}
    roles = [m["role"] for m in b["messages"]]
    assert roles == ["user", "assistant", "user"], roles
    assert b["messages"][1]["content"][0]["type"] == "tool_use"
    assert b["messages"][1]["content"][0]["input"] == {"city": "Rome"}
    user2 = b["messages"][2]["content"]
    assert user2[0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}
    assert user2[1] == {"type": "text", "text": "and Paris?"}


def read_reply(s):
    """One HTTP/1.1 reply with a Content-Length from socket s: (head, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        assert b, "connection closed before the reply's head"
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    n = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
             if line.lower().startswith(b"content-length:"))
    while len(body) < n:
        b = s.recv(65536)
        assert b, "connection closed after %d of %d body bytes" % (len(body), n)
        body += b
    assert len(body) == n, (len(body), n)
    return head, body


@r.case
def a_large_reply_reaches_a_slow_reader_whole_and_the_connection_goes_on():
    # a 4.8 MB reply, more than a loopback socket's send buffer takes (4 MB at most), into a
    # 4 KB receive window that is not read for a while: the gateway's first write cannot take it
    # all, so the rest goes out as the client drains it
    text = ("lorem ipsum dolor sit amet " * 12000)[:300000]
    body = json.dumps({"model": "big", "n": 16, "messages": [{"role": "user", "content": text}]})
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", belt.port))
    req = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n" % len(body)).encode() + body.encode()
    s.sendall(req)
    time.sleep(0.5)
    head, reply = read_reply(s)
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    doc = json.loads(reply)
    assert len(doc["choices"]) == 16
    assert all(c["message"]["content"] == text for c in doc["choices"])
    small = json.dumps({"model": "good", "messages": HELLO})
    s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
               "application/json\r\nContent-Length: %d\r\n\r\n" % len(small)).encode() +
              small.encode())
    head, reply = read_reply(s)
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    assert json.loads(reply)["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    s.close()


def teardown():
    g.check_clean_exit(belt)
    fake.stop()
    belt.cleanup()


r.run(teardown)
