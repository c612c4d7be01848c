"""Streaming through `belt serve`: SSE framing and [DONE], usage asked upstream and forwarded
only when the client asked, tool calls in chunks, Anthropic events mapped to OpenAI chunks, a
stream cut halfway ending in an error event, and a client that disconnects cancelling the
upstream transfer (streamed and parked requests)."""
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
  m1: {{ provider: openai, base_url: "{U}", model: "fake+chunks=5", price: {{ input: 1, output: 2 }} }}
  tools: {{ provider: openai, base_url: "{U}", model: "fake+tools" }}
  cut: {{ provider: openai, base_url: "{U}", model: "fake+cut+chunks=6", retries: 2, fallbacks: [m1] }}
  err_first: {{ provider: openai, base_url: "{U}", model: "fake+status=500", retries: 0, fallbacks: [m1] }}
  long: {{ provider: openai, base_url: "{U}", model: "fake+chunks=20+stream_ms=4000", retries: 0 }}
  hang: {{ provider: openai, base_url: "{U}", model: "fake+hang", retries: 0 }}
  claude: {{ provider: anthropic, base_url: "{U}", model: "fake+chunks=4" }}
server: {{ cache: {{ enabled: false }} }}
"""
belt = g.Belt(CONFIG)
r = g.Runner()
HELLO = [{"role": "user", "content": "hi"}]


def stream(model, **extra):
    body = {"model": model, "stream": True, "messages": HELLO}
    body.update(extra)
    st, h, raw = belt.request("POST", "/v1/chat/completions", body)
    return st, h, raw, g.sse_events(raw)


def content_of(events):
    text = ""
    for kind, payload in events:
        if kind == "data" and payload != "[DONE]":
            for ch in json.loads(payload).get("choices", []):
                text += ch.get("delta", {}).get("content") or ""
    return text


@r.case
def sse_framing_and_done():
    st, h, raw, ev = stream("m1")
    assert st == 200 and h["content-type"] == "text/event-stream", h
    assert h["x-belt-model"] == "m1" and h["x-belt-cost-usd"] == "pending"
    assert raw.endswith(b"data: [DONE]\n\n"), raw[-60:]
    data = [p for k, p in ev if k == "data"]
    assert data[-1] == "[DONE]"
    for p in data[:-1]:
        assert json.loads(p)["object"] == "chat.completion.chunk"
    assert content_of(ev) == "Hello from the fake upstream."
    cost = [c for k, c in ev if k == "comment" and c.startswith("x-belt-cost-usd=")]
    assert cost and abs(float(cost[0].split("=")[1]) - 21e-6) < 1e-12, ev


@r.case
def usage_is_asked_upstream_but_forwarded_only_when_requested():
    fake.reset()
    _, _, _, ev = stream("m1")
    assert fake.requests()[-1]["body"]["stream_options"] == {"include_usage": True}
    assert not any(k == "data" and p != "[DONE]" and json.loads(p).get("usage") for k, p in ev)
    _, _, _, ev = stream("m1", stream_options={"include_usage": True})
    usage = [json.loads(p)["usage"] for k, p in ev
             if k == "data" and p != "[DONE]" and json.loads(p).get("usage")]
    assert usage == [{"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}], usage


@r.case
def streamed_tool_calls():
    _, _, _, ev = stream("tools")
    calls = [c for k, p in ev if k == "data" and p != "[DONE]"
             for ch in json.loads(p)["choices"] for c in ch["delta"].get("tool_calls", [])]
    assert calls and calls[0]["function"]["name"] == "get_weather", ev
    fins = [ch["finish_reason"] for k, p in ev if k == "data" and p != "[DONE]"
            for ch in json.loads(p)["choices"] if ch["finish_reason"]]
    assert fins == ["tool_calls"]


@r.case
def anthropic_stream_becomes_openai_chunks():
    fake.reset()
    st, _, raw, ev = stream("claude", stream_options={"include_usage": True})
    assert st == 200 and raw.endswith(b"data: [DONE]\n\n"), raw[-200:]
    assert content_of(ev) == "Hello from the fake upstream."
    chunks = [json.loads(p) for k, p in ev if k == "data" and p != "[DONE]"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in chunks)
    assert chunks[-1]["usage"]["prompt_tokens"] == 9 and chunks[-1]["usage"]["completion_tokens"] == 6
    assert fake.requests()[-1]["body"]["stream"] is True


@r.case
def error_before_the_first_chunk_falls_back():
    st, h, raw, ev = stream("err_first")
    assert st == 200 and h["x-belt-model"] == "m1", (st, h)
    assert content_of(ev) == "Hello from the fake upstream."


@r.case
def a_stream_cut_halfway_ends_with_an_error_event():
    fake.reset()
    st, _, raw, ev = stream("cut")
    assert st == 200
    data = [p for k, p in ev if k == "data"]
    assert "[DONE]" not in data, data
    err = json.loads(data[-1])
    assert err["error"]["code"] == "stream_error", err
    assert len(fake.requests()) == 1, "a started stream must not be retried or fall back"
    tid = None
    _, _, raw2 = belt.request("GET", "/metrics")
    assert "belt_stream_errors_total 1" in raw2.decode()
    del tid


def open_stream_and_drop(model, stream_flag, wait_s):
    s = socket.create_connection(("127.0.0.1", belt.port), timeout=10)
    body = json.dumps({"model": model, "stream": stream_flag, "messages": HELLO}).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
              b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(wait_s)
    s.close()


@r.case
def client_disconnect_cancels_a_streamed_upstream():
    fake.reset()
    t0 = time.time()
    open_stream_and_drop("long", True, 0.5)
    closed = g.wait_for(lambda: fake.stats()["client_closed"] >= 1, timeout=3)
    assert closed, fake.stats()
    assert time.time() - t0 < 3.0, "upstream kept streaming after the client left"


@r.case
def client_disconnect_cancels_a_parked_request():
    fake.reset()
    open_stream_and_drop("hang", False, 0.3)
    assert g.wait_for(lambda: fake.stats()["client_closed"] >= 1, timeout=3), fake.stats()
    rows = g.wait_for(lambda: belt.rows(
        "select status, http_status from traces where route = 'hang'"), timeout=3)
    assert rows == [("cancelled", 499)], rows
    _, _, raw = belt.request("GET", "/metrics")
    text = raw.decode()
    assert "belt_client_disconnects_total 2" in text
    assert "belt_inflight_requests 0" in text


@r.case
def stream_trace_has_tokens_and_ttft():
    rows = g.wait_for(lambda: belt.rows(
        "select input_tokens, output_tokens, stream, attrs from traces where route='m1' and "
        "stream=1 and status='ok' limit 1"))
    assert rows and rows[0][0] == 9 and rows[0][1] == 6, rows
    assert "belt.ttft_us" in json.loads(rows[0][3])


def teardown():
    g.check_clean_exit(belt)
    fake.stop()
    belt.cleanup()


r.run(teardown)
