"""Routes through `belt serve` (issue 4) against the fake upstream scripted to answer with
confident or doubtful logprobs: the path taken (x-belt-route, x-belt-tiers, the `belt` object of
the body, the trace with one step per tier and its reason), the cost, budget skips from the
x-belt-max-cost-usd header, an answer whose stated arithmetic is wrong, `stakes: high` and tag routing from the body's metadata and from
headers (belt-only fields never go upstream), the key's name in rules, streaming through a
cascade, per-route metrics and `belt traces show`."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib as g  # noqa: E402

g.skip_unless_built()
fake = g.Fake()
U = fake.url
CONFIG = f"""
store: {{ path: belt.db }}
models:
  sure: {{ provider: openai, base_url: "{U}", model: "fake+say=Paris+lp=10",
           price: {{ input: 1, output: 1 }} }}
  unsure: {{ provider: openai, base_url: "{U}", model: "fake+say=Lyon+lp=200",
             price: {{ input: 1, output: 1 }} }}
  big: {{ provider: openai, base_url: "{U}", model: "fake+say=Paris",
          price: {{ input: 1000, output: 3000 }} }}
  echo: {{ provider: openai, base_url: "{U}", model: "fake+echo+chunks=9" }}
  hang: {{ provider: openai, base_url: "{U}", model: "fake+hang", timeout: 30s }}
routes:
  confident:
    cascade:
      - {{ model: sure, accept: {{ logprobs: {{ mean: -0.5 }} }} }}
      - {{ model: big }}
  doubtful:
    cascade:
      - {{ model: unsure, accept: {{ logprobs: {{ mean: -0.5 }} }} }}
      - {{ model: big }}
  triage:
    rules:
      - {{ when: {{ stakes: [high] }}, model: big }}
      - {{ when: {{ tags: [vip] }}, model: big }}
      - {{ when: {{ key: ["partner-*"] }}, model: big }}
    default: doubtful
  echoing:
    cascade:
      - {{ model: echo, accept: {{ regex: "." }} }}
  worked:
    cascade:
      - {{ model: echo, accept: {{ arithmetic: {{ final: '####\\s*(-?[0-9,]+)$' }} }} }}
      - {{ model: big }}
  waiting: {{ fixed: hang }}
server:
  cache: {{ enabled: false }}
guard:
  keys: {{ required: false, refresh: 100ms }}
"""
belt = g.Belt(CONFIG)
r = g.Runner()
Q = [{"role": "user", "content": "What is the capital of France?"}]


def route(name, headers=None, **extra):
    body = {"model": name, "messages": Q}
    body.update(extra)
    return belt.chat(body, headers=headers)


def steps(tid):
    return g.wait_for(lambda: belt.rows(
        "SELECT seq, model, tier, status, reason, confidence, cost_usd FROM trace_steps "
        "WHERE trace_id = ? ORDER BY seq", (tid,)))


def last_upstream():
    return fake.requests()[-1]


@r.case
def confident_answer_is_accepted_at_the_first_tier():
    fake.reset()
    st, h, doc, _ = route("confident")
    assert st == 200, doc
    assert doc["choices"][0]["message"]["content"] == "Paris"
    assert h["x-belt-route"] == "confident"
    assert h["x-belt-tiers"] == "1:sure:0.905:accepted", h["x-belt-tiers"]
    assert doc["belt"]["unresolved"] is False and doc["belt"]["final_tier"] == 1
    assert len(fake.requests()) == 1  # the big model was never called
    # 9 input + 6 output tokens at $1/M
    assert abs(float(h["x-belt-cost-usd"]) - 15e-6) < 1e-12, h["x-belt-cost-usd"]


@r.case
def doubtful_answer_escalates_and_the_trace_says_why():
    st, h, doc, _ = route("doubtful")
    assert st == 200, doc
    assert h["x-belt-tiers"] == "1:unsure:0.135:escalated;2:big:-:accepted", h["x-belt-tiers"]
    path = doc["belt"]["steps"]
    assert [s["event"] for s in path] == ["escalated", "accepted"], path
    assert "logprob" in path[0]["reason"], path[0]
    rows = steps(h["x-belt-trace-id"])
    assert [(x[1], x[2], x[3]) for x in rows] == [("unsure", 0, "escalated"), ("big", 1, "accepted")]
    assert "logprob" in rows[0][4], rows  # the escalation is traced with its reason
    total = 15e-6 + (9 * 1000 + 6 * 3000) / 1e6
    assert abs(float(h["x-belt-cost-usd"]) - total) < 1e-9, h["x-belt-cost-usd"]
    tr = belt.rows("SELECT route, model, cost_usd FROM traces WHERE id = ?",
                   (h["x-belt-trace-id"],))[0]
    assert tr[0] == "doubtful" and tr[1] == "big" and abs(tr[2] - total) < 1e-9, tr


@r.case
def wrong_arithmetic_in_a_worked_answer_escalates():
    # `echo` answers with the user's message, so the message is the worked answer under test
    def ask(text):
        st, h, doc, _ = belt.chat({"model": "worked",
                                   "messages": [{"role": "user", "content": text}]})
        assert st == 200, doc
        return h, doc
    h, doc = ask("3 boxes of 12 pens: 3 x 12 = 36, and 36 - 5 = 31.\n#### 31")
    assert h["x-belt-tiers"] == "1:echo:-:accepted", h["x-belt-tiers"]
    assert doc["belt"]["steps"][0]["reason"] == "2 stated calculations hold, final 31", doc
    h, doc = ask("3 boxes of 12 pens: 3 x 12 = 38, and 38 - 5 = 33.\n#### 33")
    assert h["x-belt-tiers"] == "1:echo:-:escalated;2:big:-:accepted", h["x-belt-tiers"]
    assert doc["choices"][0]["message"]["content"] == "Paris"
    why = "1 of 2 stated calculations wrong: 3 x 12 = 38 (is 36)"
    assert doc["belt"]["steps"][0]["reason"] == why, doc
    rows = steps(h["x-belt-trace-id"])
    assert rows[0][3] == "escalated" and rows[0][4] == why, rows  # traced with its reason
    h, doc = ask("3 x 12 = 36, so 31 are left.")
    assert h["x-belt-tiers"].startswith("1:echo:-:escalated;"), h["x-belt-tiers"]
    assert "no final answer matching" in doc["belt"]["steps"][0]["reason"], doc


@r.case
def budget_header_skips_a_tier_and_the_answer_says_so():
    st, h, doc, _ = route("doubtful", headers={"x-belt-max-cost-usd": "0.001"})
    assert st == 200, doc
    assert h["x-belt-unresolved"] == "budget", h
    assert doc["belt"]["unresolved"] is True and doc["belt"]["outcome"] == "budget"
    ev = [s["event"] for s in doc["belt"]["steps"]]
    assert "skipped" in ev, ev
    skipped = [s for s in doc["belt"]["steps"] if s["event"] == "skipped"][0]
    assert "budget" in skipped["reason"], skipped
    assert doc["choices"][0]["message"]["content"] == "Lyon"  # best answer so far, marked


@r.case
def bad_budget_header_is_a_400():
    st, _, doc, _ = route("doubtful", headers={"x-belt-max-cost-usd": "lots"})
    assert st == 400 and "x-belt-max-cost-usd" in doc["error"]["message"], doc


@r.case
def stakes_high_in_metadata_goes_to_the_big_model_and_never_upstream():
    fake.reset()
    st, h, doc, _ = route("triage", metadata={"stakes": "high", "tags": ["a"], "user_ref": "u9"})
    assert st == 200, doc
    assert [s["event"] for s in doc["belt"]["steps"]][0] == "rule", doc["belt"]
    assert doc["belt"]["model"] == "big"
    sent = last_upstream()["body"] if "body" in last_upstream() else last_upstream()
    text = json.dumps(sent)
    assert "stakes" not in text and '"tags"' not in text, text
    assert "user_ref" in text  # other metadata is the client's and goes on


@r.case
def stakes_and_tags_headers_route_too():
    st, _, doc, _ = route("triage", headers={"x-belt-tags": "x, vip"})
    assert st == 200 and doc["belt"]["steps"][0]["reason"].startswith("rule 2 matched"), doc["belt"]
    st, _, doc, _ = route("triage", headers={"x-belt-stakes": "high"})
    assert doc["belt"]["steps"][0]["reason"].startswith("rule 1 matched"), doc["belt"]
    st, _, doc, _ = route("triage")  # no rule: the default, a cascade
    assert st == 200 and doc["belt"]["steps"][0]["reason"].startswith("no rule matched")


@r.case
def the_key_name_feeds_rules():
    k = json.loads(subprocess.run([g.BIN, "-c", belt.config, "keys", "create", "partner-acme",
                                   "--json"], capture_output=True, text=True, cwd=belt.dir,
                                  check=True).stdout)
    import time
    time.sleep(0.3)
    st, _, doc, _ = route("triage", headers={"Authorization": "Bearer " + k["key"]})
    assert st == 200, doc
    rule = doc["belt"]["steps"][0]
    assert rule["event"] == "rule" and rule["reason"].startswith("rule 3 matched"), rule
    assert doc["belt"]["model"] == "big"


@r.case
def a_cascade_streams_with_the_path_at_the_end():
    st, h, _, raw = route("doubtful", stream=True)
    assert st == 200 and h["content-type"] == "text/event-stream"
    assert h["x-belt-route"] == "doubtful"
    ev = g.sse_events(raw)
    text = "".join(json.loads(p)["choices"][0]["delta"].get("content") or ""
                   for k, p in ev if k == "data" and p != "[DONE]" and json.loads(p)["choices"])
    assert text == "Paris", text
    comments = [p for k, p in ev if k == "comment"]
    assert any(c.startswith("x-belt-tiers=1:unsure") for c in comments), comments
    assert ev[-1] == ("data", "[DONE]")


@r.case
def plain_models_keep_working_and_budgets_apply_to_them():
    st, h, doc, _ = belt.chat({"model": "big", "messages": Q})
    assert st == 200 and "x-belt-route" not in h
    st, h, doc, _ = belt.chat({"model": "big", "messages": Q},
                              headers={"x-belt-max-cost-usd": "0.0000001"})
    assert st == 402 and doc["error"]["code"] == "budget_exceeded", (st, doc)
    assert "big would cost" in doc["error"]["message"]
    st, h, doc, _ = belt.chat({"model": "big", "messages": Q},
                              headers={"x-belt-max-cost-usd": "10"})
    assert st == 200, doc


@r.case
def route_metrics_count_requests_escalations_and_tiers():
    st, _, raw = belt.request("GET", "/metrics")
    text = raw.decode()
    assert st == 200

    def val(line):
        for l in text.splitlines():
            if l.startswith(line + " "):
                return float(l.split()[-1])
        raise AssertionError("missing " + line)
    assert val('belt_route_requests_total{route="doubtful"}') >= 3
    assert val('belt_route_escalations_total{route="doubtful"}') >= 2
    assert val('belt_route_budget_skips_total{route="doubtful"}') >= 1
    assert val('belt_route_answered_total{route="confident",tier="1"}') >= 1
    assert val('belt_route_answered_total{route="doubtful",tier="2"}') >= 1
    assert val('belt_upstream_attempts_total{model="big"}') >= 1  # per model too


@r.case
def pii_is_redacted_on_every_tier_and_restored_through_a_route():
    fake.reset()
    pii = "Reply to jane.doe@example.com today."
    for stream in (False, True):
        st, _, doc, raw = belt.chat({"model": "echoing", "stream": stream,
                                     "messages": [{"role": "user", "content": pii}]})
        assert st == 200, raw
        if stream:
            text = "".join(json.loads(p)["choices"][0]["delta"].get("content") or ""
                           for k, p in g.sse_events(raw)
                           if k == "data" and p != "[DONE]" and json.loads(p)["choices"])
        else:
            text = doc["choices"][0]["message"]["content"]
        assert text == pii, text
    assert "jane.doe@example.com" not in json.dumps(fake.requests())


@r.case
def client_disconnect_cancels_a_route_call():
    import socket
    import time
    fake.reset()
    s = socket.create_connection(("127.0.0.1", belt.port), timeout=10)
    body = json.dumps({"model": "waiting", "messages": Q}).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
              b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(0.3)
    s.close()
    assert g.wait_for(lambda: fake.stats()["client_closed"] >= 1, timeout=3), fake.stats()
    rows = g.wait_for(lambda: belt.rows(
        "select status, http_status from traces where route = 'waiting'"), timeout=3)
    assert rows == [("cancelled", 499)], rows


@r.case
def routes_are_listed_as_models():
    st, _, raw = belt.request("GET", "/v1/models")
    ids = {m["id"]: m for m in json.loads(raw)["data"]}
    assert st == 200 and ids["doubtful"]["belt"]["route"] == "cascade", ids.keys()
    assert "big" in ids
    st, _, raw = belt.request("GET", "/v1/models/triage")
    assert st == 200 and json.loads(raw)["belt"]["route"] == "rules"


@r.case
def traces_show_prints_the_path():
    st, h, _, _ = route("doubtful")
    tid = h["x-belt-trace-id"]
    g.wait_for(lambda: belt.rows("SELECT 1 FROM traces WHERE id = ?", (tid,)))
    out = subprocess.run([g.BIN, "-c", belt.config, "traces", "show", tid], capture_output=True,
                         text=True, cwd=belt.dir).stdout
    lines = [l.split() for l in out.splitlines()]
    tiers = [(l[1], l[2], l[4]) for l in lines if len(l) > 5 and l[0] in ("0", "1")]
    assert tiers == [("1", "unsure", "escalated"), ("2", "big", "accepted")], out
    assert "logprob mean -2 < -0.5" in out, out


def teardown():
    g.check_clean_exit(belt)
    fake.stop()
    belt.cleanup()


r.run(teardown=teardown)
