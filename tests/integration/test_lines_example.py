"""The README's main job on a small scale: examples/support (generated tickets, three local
models trained on the spot, the help centre indexed) runs end to end without an API key — the
LLM stations escalate to review and the summary says how many — with sensible accuracy; and
POST /v1/lines/support answers one ticket on belt serve."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwlib import Belt, Runner, check_clean_exit, skip_unless_built  # noqa: E402
from linelib import Work, check  # noqa: E402

skip_unless_built()
runner = Runner()
SRC = os.environ.get("BELT_SRC_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EX = os.path.join(SRC, "examples", "support")
ENV = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "SUPPORT_SMALL_MODEL": "",
       "SUPPORT_FRONTIER_MODEL": ""}


def setup():
    w = Work(open(os.path.join(EX, "belt.yaml")).read())
    data = w.path("data")
    subprocess.run([sys.executable, "-B", os.path.join(EX, "gen_tickets.py"), "--out", data,
                    "--tickets", "300", "--train", "2000"], check=True, capture_output=True)
    for m in ("relevance", "intent", "complexity"):
        w.belt("train", "--data", "data/%s_train.jsonl" % m, "--dev", "data/%s_dev.jsonl" % m,
               "-o", "data/%s.belt" % m, "--quiet", check=0, env=ENV)
    w.belt("index", "--corpus", "kb", "data/kb.jsonl", check=0, env=ENV)
    return w


@runner.case
def lines_example_runs_without_an_api_key():
    w = setup()
    p = w.belt("run", "support", "-i", "data/tickets.jsonl", "-o", "data/out.jsonl",
               "--gold", "gold_relevance=relevance", "--gold", "gold_intent=intent",
               "--gold", "gold_order_id=fields.order_id", "--summary-json", "s.json",
               check=0, env=ENV)
    s = json.load(open(w.path("s.json")))
    check(s["items"] == 300 and s["complete"], s)
    o = s["outcomes"]
    check(o["ok"] + o["needs_review"] + o["dropped"] + o["error"] == 300, o)
    check(o["ok"] > 100, "most tickets need no LLM: %s" % o)
    check(o["needs_review"] > 0 and o["error"] == 0, o)
    check(any("OPENAI_API_KEY" in k for k in s["reasons"]),
          "the summary says why: %s" % s["reasons"])
    acc = {a["gold"]: a for a in s["accuracy"]}
    check(acc["gold_relevance=relevance"]["accuracy"] > 0.9, acc)
    check(acc["gold_intent=intent"]["accuracy"] > 0.8, acc)
    check(acc["gold_order_id=fields.order_id"]["accuracy"] > 0.95, acc)
    out = w.read_jsonl("data/out.jsonl")
    check(all("@" not in r["text"] or "[EMAIL_" in r["text"] for r in out),
          "e-mail addresses are masked")
    check("reviews and drops by reason" in p.stdout, p.stdout)
    w.cleanup()


@runner.case
def lines_example_serves_one_ticket():
    w = setup()
    cfg = open(w.config).read().replace("path: data/", "path: %s/data/" % w.dir)
    b = Belt(cfg, env=ENV)
    try:
        ticket = {"id": "X1", "subject": "refund", "text": "i want a refund for order #48213, it "
                  "was $40.50. you can reach me at jane.doe@example.com"}
        st, _, raw = b.request("POST", "/v1/lines/support", ticket)
        doc = json.loads(raw)
        check(st in (200, 202), (st, doc))
        check(doc["relevance"] == "relevant" and doc["fields"]["order_id"] == "48213", doc)
        check("jane.doe@example.com" not in doc["text"], doc["text"])
        check([s["station"] for s in doc["_belt"]["path"]][:3] == ["clean", "relevance", "intent"],
              doc["_belt"]["path"])
    finally:
        check_clean_exit(b)
        b.cleanup()
        shutil.rmtree(w.dir, ignore_errors=True)


runner.run()
