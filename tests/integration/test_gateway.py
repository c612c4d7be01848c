"""`belt serve` basics against the fake upstream: answers, headers, what is sent upstream,
cost, error bodies and statuses, request limits, the small endpoints."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib as g  # noqa: E402

g.skip_unless_built()
fake = g.Fake()
U = fake.url
CONFIG = f"""
store: {{ path: belt.db }}
models:
  m1:
    provider: openai
    base_url: "{U}"
    model: fake
    api_key_env: BELT_TEST_KEY
    headers: {{ X-Team: blue }}
    price: {{ input: 1.0, output: 2.0 }}
  echo: {{ provider: openai, base_url: "{U}", model: "fake+echo" }}
  verbatim: {{ provider: openai, base_url: "{U}", model: verbatim }}
  tools: {{ provider: openai, base_url: "{U}", model: "fake+tools" }}
  lp: {{ provider: openai, base_url: "{U}", model: "fake+logprobs" }}
  nousage: {{ provider: openai, base_url: "{U}", model: "fake+nousage+echo", price: {{ input: 1, output: 1 }} }}
  e500: {{ provider: openai, base_url: "{U}", model: "fake+status=500", retries: 0 }}
  e400: {{ provider: openai, base_url: "{U}", model: "fake+status=400", retries: 0 }}
  garbage: {{ provider: openai, base_url: "{U}", model: "fake+garbage", retries: 0 }}
  reset: {{ provider: openai, base_url: "{U}", model: "fake+reset", retries: 0 }}
  slow: {{ provider: openai, base_url: "{U}", model: "fake+slow=3000", retries: 0, timeout: 300ms }}
  nokey: {{ provider: openai, base_url: "{U}", model: fake, api_key_env: BELT_UNSET_KEY_VAR }}
server:
  max_body: 64KiB
  max_headers: 8KiB
  cache: {{ enabled: false }}
"""
belt = g.Belt(CONFIG, env={"BELT_TEST_KEY": "sk-secret-123"})
r = g.Runner()
HELLO = [{"role": "user", "content": "hi"}]


@r.case
def chat_answers_with_belt_headers():
    st, h, doc, _ = belt.chat({"model": "m1", "messages": HELLO})
    assert st == 200, st
    assert doc["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    assert doc["id"] == "chatcmpl-fake0001"
    assert h["x-belt-model"] == "m1"
    assert abs(float(h["x-belt-cost-usd"]) - (9 * 1.0 + 6 * 2.0) / 1e6) < 1e-12
    assert h["x-belt-cache"] == "off"
    assert len(h["x-belt-trace-id"]) == 32


@r.case
def upstream_gets_model_id_key_headers_and_unknown_fields():
    fake.reset()
    st, _, _, _ = belt.chat({"model": "m1", "messages": HELLO, "frobnicate": {"x": 1},
                             "temperature": 0.5, "user": "u1"})
    assert st == 200
    reqs = fake.requests()
    assert len(reqs) == 1, reqs
    q = reqs[0]
    assert q["path"] == "/v1/chat/completions"
    assert q["body"]["model"] == "fake"
    assert q["body"]["frobnicate"] == {"x": 1}
    assert q["body"]["user"] == "u1"
    assert "stream" not in q["body"]
    assert q["headers"]["authorization"] == "Bearer sk-secret-123"
    assert q["headers"]["x-team"] == "blue"
    assert "expect" not in q["headers"]


@r.case
def unchanged_requests_go_upstream_byte_for_byte():
    fake.reset()
    body = '{ "model" : "verbatim",\n  "messages": [ {"role": "user", "content": "hi"} ],  "zz": 1 }'
    st, _, doc, _ = belt.chat(body)
    assert st == 200, doc
    q = fake.requests()[-1]
    assert int(q["headers"]["content-length"]) == len(body.encode()), q["headers"]
    assert q["body"]["zz"] == 1


@r.case
def traceparent_header_sets_the_trace_id():
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    st, h, _, _ = belt.chat({"model": "m1", "messages": HELLO},
                            headers={"traceparent": "00-%s-00f067aa0ba902b7-01" % tid})
    assert st == 200 and h["x-belt-trace-id"] == tid


@r.case
def tool_calls_pass_through():
    st, _, doc, _ = belt.chat({"model": "tools", "messages": HELLO, "tools": [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})
    assert st == 200
    ch = doc["choices"][0]
    assert ch["finish_reason"] == "tool_calls"
    assert ch["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(ch["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}


@r.case
def logprobs_pass_through():
    st, _, doc, _ = belt.chat({"model": "lp", "messages": HELLO, "logprobs": True})
    assert st == 200
    assert doc["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.25


@r.case
def missing_usage_is_estimated_and_costed():
    st, h, doc, _ = belt.chat({"model": "nousage", "messages": [
        {"role": "user", "content": "count these words please"}]})
    assert st == 200 and "usage" not in doc
    assert float(h["x-belt-cost-usd"]) > 0


@r.case
def upstream_500_is_502_with_openai_error_body():
    st, h, doc, _ = belt.chat({"model": "e500", "messages": HELLO})
    assert st == 502, st
    assert doc["error"]["type"] == "api_error" and doc["error"]["code"] == "upstream_error"
    assert "fake upstream error" in doc["error"]["message"]
    assert h["x-belt-model"] == "e500"


@r.case
def upstream_400_is_passed_to_the_client():
    st, _, doc, _ = belt.chat({"model": "e400", "messages": HELLO})
    assert st == 400, st
    assert doc["error"]["type"] == "invalid_request_error"


@r.case
def upstream_garbage_is_502():
    st, _, doc, _ = belt.chat({"model": "garbage", "messages": HELLO})
    assert st == 502 and "malformed JSON" in doc["error"]["message"], doc


@r.case
def upstream_reset_is_502():
    st, _, doc, _ = belt.chat({"model": "reset", "messages": HELLO})
    assert st == 502, (st, doc)


@r.case
def upstream_timeout_is_504():
    st, _, doc, _ = belt.chat({"model": "slow", "messages": HELLO})
    assert st == 504, (st, doc)
    assert doc["error"]["code"] == "upstream_timeout"


@r.case
def missing_key_variable_fails_without_leaking_anything():
    st, _, doc, _ = belt.chat({"model": "nokey", "messages": HELLO})
    assert st == 502, st
    assert "BELT_UNSET_KEY_VAR" in doc["error"]["message"]
    assert "sk-secret" not in json.dumps(doc)


@r.case
def unknown_model_is_404():
    st, _, doc, _ = belt.chat({"model": "nope", "messages": HELLO})
    assert st == 404 and doc["error"]["code"] == "model_not_found", doc
    assert doc["error"]["param"] == "model"


@r.case
def malformed_json_is_400_with_position():
    st, _, doc, _ = belt.chat('{"model": "m1", "messages": [}')
    assert st == 400 and "invalid JSON" in doc["error"]["message"], doc


@r.case
def missing_fields_are_400():
    st, _, doc, _ = belt.chat({"model": "m1"})
    assert st == 400 and doc["error"]["param"] == "messages", doc
    st, _, doc, _ = belt.chat({"messages": HELLO})
    assert st == 400 and doc["error"]["param"] == "model", doc
    st, _, doc, _ = belt.chat({"model": "m1", "messages": [{"content": "x"}]})
    assert st == 400 and doc["error"]["param"] == "messages[0]", doc
    st, _, doc, _ = belt.chat({"model": "m1", "messages": HELLO, "stream": "yes"})
    assert st == 400 and doc["error"]["param"] == "stream", doc


@r.case
def body_over_the_limit_is_413_json():
    big = json.dumps({"model": "m1", "messages": [{"role": "user", "content": "x" * 80000}]})
    st, _, doc, _ = belt.chat(big)
    assert st == 413, st
    assert doc["error"]["code"] == "request_too_large"


@r.case
def huge_body_is_refused_before_reading():
    raw = g.raw_request(belt.port, "POST", "/v1/chat/completions", "x" * (1 << 20))
    assert raw.startswith(b"HTTP/1.1 413"), raw[:100]


@r.case
def headers_over_the_limit_are_refused():
    raw = g.raw_request(belt.port, "POST", "/v1/chat/completions", "{}",
                        "X-Big: %s\r\n" % ("y" * 20000))
    assert raw.startswith(b"HTTP/1.1 4"), raw[:100]


@r.case
def wrong_method_is_405_and_unknown_path_404():
    st, h, raw = belt.request("GET", "/v1/chat/completions")
    assert st == 405 and h["allow"] == "POST" and json.loads(raw)["error"]
    st, _, raw = belt.request("GET", "/v2/nothing")
    assert st == 404 and json.loads(raw)["error"]


@r.case
def models_healthz_metrics():
    st, _, raw = belt.request("GET", "/v1/models")
    ids = [m["id"] for m in json.loads(raw)["data"]]
    assert st == 200 and "m1" in ids and "slow" in ids
    st, _, raw = belt.request("GET", "/v1/models/m1")
    assert st == 200 and json.loads(raw)["id"] == "m1"
    st, _, raw = belt.request("GET", "/v1/models/none")
    assert st == 404
    st, _, raw = belt.request("GET", "/healthz")
    assert st == 200 and json.loads(raw)["status"] == "ok"
    st, h, raw = belt.request("GET", "/metrics")
    text = raw.decode()
    assert st == 200 and h["content-type"].startswith("text/plain")
    assert 'belt_requests_total{model="m1"}' in text
    assert 'belt_upstream_timeouts_total{model="slow"} 1' in text
    assert 'belt_http_responses_total{endpoint="/v1/chat/completions",code="413"} 1' in text
    assert 'belt_upstream_up{model="m1",deployment="m1",state="closed"} 1' in text


@r.case
def embeddings_pass_through():
    st, h, raw = belt.request("POST", "/v1/embeddings", {"model": "m1", "input": "hello"})
    doc = json.loads(raw)
    assert st == 200 and doc["data"][0]["embedding"] == [0.1, 0.2, 0.3], doc
    assert h["x-belt-model"] == "m1"
    assert fake.requests()[-1]["path"] == "/v1/embeddings"


@r.case
def traces_are_written_with_steps():
    belt.chat({"model": "m1", "messages": HELLO})
    rows = g.wait_for(lambda: belt.rows(
        "select count(*) from traces where route='e500' and http_status=502")[0][0] >= 1)
    assert rows
    steps = belt.rows("select s.status, s.http_status from trace_steps s join traces t on "
                      "t.id = s.trace_id where t.route = 'e500'")
    assert ("error", 500) in steps, steps
    ok = belt.rows("select input_tokens, output_tokens, cost_usd from traces where route='m1' "
                   "and status='ok' limit 1")
    assert ok and ok[0][0] == 9 and ok[0][1] == 6 and abs(ok[0][2] - 21e-6) < 1e-12, ok


def teardown():
    g.check_clean_exit(belt)
    # one trace per model call (15 above); requests refused before a call (400/404/405/413)
    # are counted in metrics, not traced
    n = belt.rows("select count(*) from traces")[0][0]
    assert n == 15, n
    dump = "\n".join(str(x) for x in belt.rows("select * from traces"))
    dump += "\n".join(str(x) for x in belt.rows("select * from trace_steps"))
    assert "sk-secret" not in dump, "an API key reached the traces"
    assert "sk-secret" not in belt.stderr
    fake.stop()
    belt.cleanup()


r.run(teardown)
