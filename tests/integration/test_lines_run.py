"""`belt run`: local stations end to end, bad input (JSONL and CSV) reported by line number with
--on-bad-input skip|stop, crash-and-resume exactly once (kill -9 at random points, bounded),
graceful stop + resume, --limit, output protection, changed configuration, gold accuracy."""
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwlib import Runner, skip_unless_built  # noqa: E402
from linelib import Fake, Work, check  # noqa: E402

skip_unless_built()
runner = Runner()
fake = Fake()

LOCAL_LINE = """
store:
  path: belt.db
lines:
  tickets:
    concurrency: 64
    stations:
      - name: fields
        kind: extract
        input: text
        rules:
          order_id: { pattern: 'order #(\\d{5})' }
          greeting: { pattern: '\\b(hello|order)\\b' }
          amount: { pattern: '\\$\\s?\\d[\\d,.]*', normalize: currency }
      - name: clean
        kind: redact
        input: text
        pii: [email]
      - name: check
        kind: validate
        input: fields
        schema: { type: object, required: [order_id] }
        on_fail: drop
      - name: big_refund
        kind: review
        when: fields.amount > 100
        reason: "refund of {{fields.amount}} needs approval"
"""


def ticket(i):
    amount = 20 + (i * 37) % 300
    mail = " write to user%d@example.com" % i if i % 3 == 0 else ""
    if i % 10 == 7:
        return {"id": i, "text": "hello, no order number here%s" % mail, "gold": None}
    return {"id": i, "text": "order #%05d refund $%d please%s" % (10000 + i, amount, mail),
            "gold": "%05d" % (10000 + i), "slow": i % 25 == 0}


@runner.case
def lines_run_local_stations_end_to_end():
    w = Work(LOCAL_LINE)
    w.write_jsonl("in.jsonl", [ticket(i) for i in range(40)])
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--summary-json",
               "sum.json", check=0)
    out = w.read_jsonl("out.jsonl")
    check([r["_belt"]["item"] for r in out] == list(range(40)), "one line per record, in order")
    for r in out:
        i = r["id"]
        status = r["_belt"]["status"]
        if i % 10 == 7:
            check(status == "dropped" and "check" in r["_belt"]["reason"], r)
        elif 20 + (i * 37) % 300 > 100:
            check(status == "needs_review" and r["_belt"]["review_id"].startswith("rv_"), r)
        else:
            check(status == "ok" and r["fields"]["order_id"] == "%05d" % (10000 + i), r)
        check("@example.com" not in r["text"], "emails are redacted in place: %s" % r["text"])
    s = json.load(open(w.path("sum.json")))
    check(s["items"] == 40 and s["complete"], s)
    check(s["outcomes"]["dropped"] == 4, s["outcomes"])
    names = [st["name"] for st in s["stations"]]
    check(names == ["fields", "clean", "check", "big_refund"], names)
    check("line tickets" in p.stdout and "fields" in p.stdout, p.stdout)
    n_review = sum(1 for r in out if r["_belt"]["status"] == "needs_review")
    check(w.rows("SELECT count(*) FROM reviews WHERE line = 'tickets'")[0][0] == n_review,
          "one review per parked item")
    check(w.rows("SELECT count(*) FROM audit WHERE kind = 'review.add'")[0][0] == n_review,
          "every parked item is in the audit log")
    v = w.belt("audit", "verify", check=0)
    check(v.returncode == 0, "the audit log verifies: %s%s" % (v.stdout, v.stderr))
    check(w.rows("SELECT count(*) FROM run_items WHERE status = 'dropped'")[0][0] == 4,
          "non-ok items are recorded with the run")
    w.cleanup()


BAD_JSONL = ['{"text": "order #10001 refund $5"}', 'not json at all', '',
             '{"text": "order #10002 refund $6"}', '[1, 2]', '{"text": "order #10003 refund $7"}']


@runner.case
def lines_bad_jsonl_lines_skipped_with_line_numbers():
    w = Work(LOCAL_LINE)
    w.write("in.jsonl", "\n".join(BAD_JSONL) + "\n")
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--summary-json",
               "s.json", check=0)
    check("in.jsonl:2" in p.stderr and "in.jsonl:5" in p.stderr, p.stderr)
    out = w.read_jsonl("out.jsonl")
    check([r["fields"]["order_id"] for r in out] == ["10001", "10002", "10003"], out)
    check(json.load(open(w.path("s.json")))["bad_input"] == 2, "bad input counted")
    w.cleanup()


@runner.case
def lines_bad_jsonl_stop_then_fix_and_resume():
    w = Work(LOCAL_LINE)
    w.write("in.jsonl", "\n".join(BAD_JSONL) + "\n")
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--on-bad-input",
               "stop", check=1)
    check("in.jsonl:2" in p.stderr, p.stderr)
    check(len(w.read_jsonl("out.jsonl")) == 1, "only the records before the bad line")
    fixed = list(BAD_JSONL)
    fixed[1] = '{"text": "order #10009 refund $9"}'
    fixed[4] = '{"text": "order #10010 refund $9"}'
    w.write("in.jsonl", "\n".join(fixed) + "\n")
    w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--resume", check=0)
    ids = [r["fields"]["order_id"] for r in w.read_jsonl("out.jsonl")]
    check(ids == ["10001", "10009", "10002", "10010", "10003"], ids)
    w.cleanup()


BAD_CSV = ('id,text\n'
           '1,"order #10001 refund $5"\n'
           '2,"order #10002 ""quoted"" refund $6"\n'
           '3,"order #10003" trailing\n'
           '4,order #10004 refund $8\n'
           '5,"order #10005 refund $9" junk\n'
           '6,"order #10006\nrefund $10"\n')


@runner.case
def lines_bad_csv_records_skipped_with_line_numbers():
    w = Work(LOCAL_LINE)
    w.write("in.csv", BAD_CSV)
    p = w.belt("run", "tickets", "-i", "in.csv", "-o", "out.jsonl", check=0)
    check("in.csv:4" in p.stderr and "in.csv:6" in p.stderr, p.stderr)
    ids = [r["id"] for r in w.read_jsonl("out.jsonl")]
    check(ids == ["1", "2", "4", "6"], ids)
    w.cleanup()


@runner.case
def lines_bad_csv_stop():
    w = Work(LOCAL_LINE)
    w.write("in.csv", BAD_CSV)
    p = w.belt("run", "tickets", "-i", "in.csv", "-o", "out.jsonl", "--on-bad-input", "stop",
               check=1)
    check("in.csv:4" in p.stderr, p.stderr)
    check([r["id"] for r in w.read_jsonl("out.jsonl")] == ["1", "2"], "stops at line 4")
    w.cleanup()


KILL_LINE = LOCAL_LINE.replace("store:", """models:
  slow:
    provider: openai
    base_url: "%s"
    model: "fake+echo+slow=25"
store:""" % fake.url) + """      - name: note
        kind: generate
        when: slow
        route: slow
        prompt: "note for {{fields.order_id}}"
"""


@runner.case
def lines_resume_after_kill_is_exactly_once():
    w = Work(KILL_LINE)
    n = 8000
    recs = [ticket(i) for i in range(n)]
    w.write_jsonl("in.jsonl", recs)
    rng = random.Random(int(os.environ.get("BELT_TEST_SEED", "5")))
    args = ["run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--threads", "2",
            "--checkpoint-every", "97", "-n", "16", "-q"]
    kills = 0
    finished = None
    for attempt in range(8):
        proc = w.start(*(args + (["--resume"] if attempt else [])))
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is not None:
            finished = proc.wait()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    if finished is None:
        finished = w.belt(*(args + ["--resume"]), timeout=300).returncode
    check(finished == 0, "the last run completes")
    check(kills >= 2, "the run was killed at least twice (%d)" % kills)
    out = w.read_jsonl("out.jsonl")
    items = [r["_belt"]["item"] for r in out]
    check(items == list(range(n)), "every record exactly once, in order (%d kills; %d lines)" %
          (kills, len(items)))
    check(all(r["id"] == r["_belt"]["item"] for r in out), "each output line is its record")
    notes = [r for r in out if r["id"] % 25 == 0 and r["_belt"]["status"] == "ok"]
    check(all(r["note"] == "note for %s" % r["fields"]["order_id"] for r in notes),
          "model answers belong to their items")
    dup = w.rows("SELECT item_id, count(*) FROM reviews GROUP BY run_id, item_id "
                 "HAVING count(*) > 1")
    check(not dup, "no item parked twice: %s" % dup[:5])
    n_review = sum(1 for r in out if r["_belt"]["status"] == "needs_review")
    check(w.rows("SELECT count(*) FROM reviews")[0][0] == n_review, "one review per parked item")
    check(w.rows("SELECT count(*) FROM audit WHERE kind = 'review.add'")[0][0] == n_review,
          "each parked item audited once across kills")
    check(w.rows("SELECT status FROM runs")[0][0] == "done", "the run is done")
    w.cleanup()


@runner.case
def lines_sigint_stops_gracefully_and_resumes():
    w = Work(KILL_LINE.replace("slow=25", "slow=40"))
    recs = [ticket(i) for i in range(600)]
    for r in recs:
        r["slow"] = True
    w.write_jsonl("in.jsonl", recs)
    proc = w.start("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "-n", "4")
    time.sleep(0.4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    check(proc.returncode == 1 and "resume" in err, "stopped (%d): %s" % (proc.returncode, err))
    check(w.rows("SELECT status FROM runs")[0][0] == "stopped", "the run is stopped")
    w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--resume", "-n", "64",
           check=0)
    check([r["_belt"]["item"] for r in w.read_jsonl("out.jsonl")] == list(range(600)),
          "complete after resume")
    w.cleanup()


@runner.case
def lines_limit_then_resume_continues():
    w = Work(LOCAL_LINE)
    w.write_jsonl("in.jsonl", [ticket(i) for i in range(30)])
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--limit", "10", check=0)
    check("--limit" in p.stdout, p.stdout)
    check(len(w.read_jsonl("out.jsonl")) == 10, "ten items")
    w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--resume", check=0)
    check([r["_belt"]["item"] for r in w.read_jsonl("out.jsonl")] == list(range(30)), "all 30")
    w.cleanup()


@runner.case
def lines_output_is_protected():
    w = Work(LOCAL_LINE)
    w.write_jsonl("in.jsonl", [ticket(i) for i in range(5)])
    w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", check=0)
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", check=1)
    check("--overwrite" in p.stderr, p.stderr)
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--resume", check=1)
    check("no unfinished run" in p.stderr, p.stderr)
    w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--overwrite", check=0)
    check(len(w.read_jsonl("out.jsonl")) == 5, "replaced, not appended")
    w.cleanup()


@runner.case
def lines_resume_refuses_a_changed_line():
    w = Work(LOCAL_LINE)
    w.write_jsonl("in.jsonl", [ticket(i) for i in range(30)])
    w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--limit", "5", check=0)
    w.write("belt.yaml", LOCAL_LINE.replace("needs approval", "needs a person"))
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--resume", check=1)
    check("changed" in p.stderr, p.stderr)
    w.cleanup()


@runner.case
def lines_gold_accuracy_per_station():
    w = Work(LOCAL_LINE)
    w.write_jsonl("in.jsonl", [ticket(i) for i in range(50)])
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "out.jsonl", "--gold",
               "gold=fields.order_id", "--summary-json", "s.json", check=0)
    acc = json.load(open(w.path("s.json")))["accuracy"][0]
    check(acc["n"] == 45 and acc["answered"] == 45 and acc["correct"] == 45, acc)
    check("accuracy" in p.stdout and "100.0%" in p.stdout, p.stdout)
    p = w.belt("run", "tickets", "-i", "in.jsonl", "-o", "o2.jsonl", "--gold", "gold=nope",
               check=1)
    check("no station 'nope'" in p.stderr, p.stderr)
    w.cleanup()


try:
    runner.run()
finally:
    fake.stop()
