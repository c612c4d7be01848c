"""Integration test of the routes' offline side through the real binary: `belt router train` on a
generated outcomes file, `belt eval --route ... --replay ...` for a cascade, a learned route and a
rules route (text, JSON, HTML), a cascade that checks worked arithmetic, the errors a user meets, and — when ../shared is present — the
RouteLLM GSM8K split converted by scripts/routellm_outcomes.py, with sane bounds asserted.
Standard library only; prints TAP."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("BELT_BIN", "")
SRC = os.environ.get("BELT_SRC_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("BELT_SHARED_DIR", "")
results = []


def check(name, cond, detail=""):
    results.append((name, bool(cond), detail))


def belt(cfg, *args, expect=0):
    cmd = [BIN] + (["-c", cfg] if cfg else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != expect:
        raise AssertionError("%s exited %d (expected %d)\nstdout: %s\nstderr: %s" %
                             (" ".join(cmd), p.returncode, expect, p.stdout[-2000:],
                              p.stderr[-2000:]))
    return p


WORDS_EASY = ["refund", "order", "address", "password", "invoice", "parcel", "login"]
WORDS_HARD = ["lemma", "integral", "eigenvalue", "tensor", "theorem", "manifold"]


def outcomes(path, n, seed):
    """Synthetic tasks: the small model is confident and right on easy texts, unsure and mostly
    wrong on hard ones; the large model is right 95% of the time at 20x the price."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            hard = rng.random() < 0.35
            words = rng.sample(WORDS_HARD if hard else WORDS_EASY, 3)
            small_ok = rng.random() < (0.15 if hard else 0.93)
            conf = rng.uniform(0.2, 0.7) if hard else rng.uniform(0.75, 0.99)
            task = {"id": "t%d" % i, "query": "please help with %s" % " ".join(words),
                    "stakes": "high" if i % 50 == 0 else "low",
                    "models": {
                        "small": {"answer": "a%d" % i, "correct": small_ok, "cost_usd": 0.0001,
                                  "latency_ms": 40, "confidence": round(conf, 4)},
                        "large": {"answer": "b%d" % i, "correct": rng.random() < 0.95,
                                  "cost_usd": 0.002, "latency_ms": 900}}}
            f.write(json.dumps(task) + "\n")


CONFIG = """store: { path: %(dir)s/belt.db }
models:
  small: { provider: replay, price: { input: 0.1, output: 0.1 } }
  large: { provider: replay, price: { input: 2, output: 2 } }
routes:
  cascade:
    cascade: [ { model: small, accept: { confidence: 0.8 } }, large ]
  smart:
    learned: { router: %(dir)s/router.belt, target: 0.7, tiers: [small, large] }
  front:
    rules:
      - { when: { stakes: high }, human: true }
    default: cascade
  bad-router:
    learned: { router: %(dir)s/corrupt.belt, tiers: [small, large] }
"""


def synthetic(tmp):
    train, test = os.path.join(tmp, "train.jsonl"), os.path.join(tmp, "test.jsonl")
    outcomes(train, 600, 1)
    outcomes(test, 300, 2)
    cfg = os.path.join(tmp, "belt.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG % {"dir": tmp})
    router = os.path.join(tmp, "router.belt")
    p = belt(cfg, "router", "train", "--data", train, "-o", router, "--quiet")
    check("router train writes the file", os.path.getsize(router) > 1000)
    models = [json.loads(l) for l in belt(cfg, "models", "--json").stdout.splitlines()]
    check("router train registers kind router",
          any(m["kind"] == "router" and m["name"] == "router" for m in models), models)
    show = belt(cfg, "router", "show", "-m", router).stdout
    check("router show lists the tiers", "1: small" in show and "2: large" in show, show)
    searched = os.path.join(tmp, "searched.belt")
    said = belt(cfg, "router", "train", "--data", train, "-o", searched, "--search",
                "--no-record").stdout
    meta = json.loads(belt(cfg, "router", "show", "-m", searched).stdout.splitlines()[-1])
    chosen = [c for c in meta["search"] if c["chosen"]]
    check("router train --search: six candidates, the best dev AUC kept and its values used",
          len(meta["search"]) == 6 and len(chosen) == 1 and
          chosen[0]["dev_auc"] == max(c["dev_auc"] for c in meta["search"]) and
          chosen[0]["char_min"] == meta["features"]["char_min"] and
          chosen[0]["l2"] == meta["l2"], meta.get("search"))
    check("router train --search says what it kept",
          "search: kept char n-grams " in said and
          "dev AUC %.3f" % chosen[0]["dev_auc"] in said and "6 candidates" in said, said)
    pred = belt(None, "router", "predict", "-m", router, "--target", "0.7", test).stdout
    first = json.loads(pred.splitlines()[0])
    check("router predict adds p_correct and a tier",
          set(first["router"]["p_correct"]) == {"small", "large"} and "tier" in first["router"],
          first.get("router"))

    rep = json.loads(belt(cfg, "eval", "--route", "cascade", "--replay", test, "--json",
                          "--html", os.path.join(tmp, "c.html")).stdout)
    singles = {m["name"]: m for m in rep["models"]}
    check("cascade accuracy between the models",
          singles["small"]["accuracy"] < rep["accuracy"] <= singles["large"]["accuracy"] + 0.03,
          (rep["accuracy"], singles))
    check("cascade is cheaper than the large model",
          rep["cost_usd_per_task"] < singles["large"]["cost_usd_per_task"])
    check("cascade shares per tier add up",
          sum(r["tasks"] for r in rep["shares"]["rows"]) == 300, rep["shares"])
    check("cascade sweep has a curve and a hull",
          len(rep["sweep"]["points"]) >= 10 and 2 <= len(rep["sweep"]["hull"]) <= 101)
    check("cascade APGR is high on separable data", rep["apgr"] is not None and rep["apgr"] > 0.7,
          rep["apgr"])
    check("cascade saves at 95% quality", rep["at_quality"]["saving"] is not None and
          rep["at_quality"]["saving"] > 0.3, rep["at_quality"])
    check("latency is reported", rep["latency_ms"]["p95"] >= 900, rep["latency_ms"])
    check("traces explain the decisions",
          any("confidence" in s["reason"] for t in rep["traces"] for s in t["steps"]))
    html = open(os.path.join(tmp, "c.html")).read()
    check("html report is self-contained with an svg curve",
          "<svg" in html and "polyline" in html and "http://" not in html.replace(
              "http://www.w3.org/2000/svg", ""))

    rep = json.loads(belt(cfg, "eval", "--route", "smart", "--replay", test, "--json").stdout)
    check("learned route reaches near the large model's accuracy on its curve",
          max(p["accuracy"] for p in rep["sweep"]["points"]) >= singles["large"]["accuracy"] - 0.02)
    check("learned route APGR is sane", rep["apgr"] is not None and 0.5 < rep["apgr"] <= 1.3,
          rep["apgr"])
    txt = belt(cfg, "eval", "--route", "front", "--replay", test).stdout
    check("rules route sends high stakes to a person", "unresolved 6" in txt, txt)

    # errors a user meets
    p = belt(cfg, "eval", "--route", "nope", "--replay", test, expect=1)
    check("unknown route is an error", "no route 'nope'" in p.stderr, p.stderr)
    p = belt(cfg, "eval", "--route", "cascade", expect=2)
    check("--route without --replay is a usage error", "--replay" in p.stderr, p.stderr)
    bad = os.path.join(tmp, "bad.jsonl")
    with open(bad, "w") as f:
        f.write(open(test).readline())
        f.write("{\"query\": 3}\n")
    p = belt(cfg, "eval", "--route", "cascade", "--replay", bad, expect=1)
    check("bad outcomes line names file:line", "bad.jsonl:2: query" in p.stderr, p.stderr)
    with open(router, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF
    with open(os.path.join(tmp, "corrupt.belt"), "wb") as f:
        f.write(data)
    p = belt(cfg, "eval", "--route", "bad-router", "--replay", test, expect=1)
    check("corrupt router file is refused", "checksum" in p.stderr, p.stderr)
    p = belt(cfg, "router", "train", "--data", os.path.join(tmp, "none.jsonl"), "-o",
             os.path.join(tmp, "x.belt"), expect=1)
    check("missing training data is an error", "none.jsonl" in p.stderr, p.stderr)
    check("no partial router file", not os.path.exists(os.path.join(tmp, "x.belt")))


RL_CONFIG = """store: { path: %(dir)s/belt.db }
models:
  mixtral-8x7b: { provider: replay, price: { input: 0.6, output: 0.6 } }
  gpt-4-1106: { provider: replay, price: { input: 10, output: 30 } }
routes:
  smart: { learned: { router: %(dir)s/gsm.belt, target: 0.8, tiers: [mixtral-8x7b, gpt-4-1106] } }
"""


def priced_outcomes(path, n, seed):
    """Tasks of very different lengths (the large model's price grows with the prompt; hardness
    does not depend on length): what a cost-weighted learned route exploits."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            k = rng.randrange(4)  # hard words: the small model is right 95%, 80%, 65%, 50%
            words = " ".join(rng.sample(WORDS_HARD, k) + rng.sample(WORDS_EASY, 3 - k))
            # a long task says the same thing 60 times: the router's unit-norm features barely
            # change, the large model's price does
            query = ("please help with %s. " % words) * rng.choice([1, 60])
            tokens = len(query) // 4 + 7
            task = {"id": "p%d" % i, "query": query.strip(),
                    "models": {
                        "small": {"correct": rng.random() < 0.95 - 0.15 * k,
                                  "cost_usd": tokens * 0.1e-6, "input_tokens": tokens,
                                  "output_tokens": 1},
                        "large": {"correct": rng.random() < 0.95, "cost_usd": tokens * 2e-6,
                                  "input_tokens": tokens, "output_tokens": 1}}}
            f.write(json.dumps(task) + "\n")


def two_model_config(tmp, name, routes, priced=False):
    """A config of replay models `small` and `large` (priced 0.1 / 2 per 1M when priced) with the
    given routes ({name: YAML flow mapping}); returns its path."""
    price = lambda x: ", price: { input: %g, output: %g }" % (x, x) if priced else ""
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write("store: { path: %s/belt.db }\nmodels:\n  small: { provider: replay%s }\n"
                "  large: { provider: replay%s }\nroutes:\n" % (tmp, price(0.1), price(2)))
        for route, body in routes.items():
            f.write("  %s: %s\n" % (route, body))
    return path


def cost_weighted(tmp):
    train, test = os.path.join(tmp, "ptrain.jsonl"), os.path.join(tmp, "ptest.jsonl")
    priced_outcomes(train, 800, 3)
    priced_outcomes(test, 400, 4)
    router = os.path.join(tmp, "priced.belt")
    cfg = two_model_config(tmp, "priced", {
        "plain": "{ learned: { router: %s, tiers: [small, large] } }" % router,
        "thrifty": "{ learned: { router: %s, cost_weight: 1, tiers: [small, large] } }" % router},
        priced=True)
    belt(cfg, "router", "train", "--data", train, "-o", router, "--objective", "sufficient",
         "--quiet", "--no-record")
    rep = json.loads(belt(cfg, "eval", "--route", "thrifty", "--replay", test, "--json",
                          "--no-record").stdout)
    check("cost_weight: the decision step shows the weighted scores",
          any("cost-weighted [" in s["reason"] for t in rep["traces"] for s in t["steps"]),
          rep["traces"][:1])
    # the same words, once and 60 times: a task dearer than the training mean to escalate is
    # weighted up (stays cheap more easily), a cheaper one down
    pair = os.path.join(tmp, "pair.jsonl")
    with open(pair, "w") as f, open(test) as src:
        task = json.loads(src.readline())
        words = task["query"].split(". ")[0] + ". "
        for rep_n, tid in ((1, "short"), (60, "long")):
            task["id"], task["query"] = tid, (words * rep_n).strip()
            f.write(json.dumps(task) + "\n")
    rep = json.loads(belt(cfg, "eval", "--route", "thrifty", "--replay", pair, "--json",
                          "--no-record").stdout)
    scores = {}
    for t in rep["traces"]:
        reason = next(s["reason"] for s in t["steps"] if "cost-weighted" in s["reason"])
        p = float(reason.split("[")[1].split()[0])
        w = float(reason.split("cost-weighted [")[1].split()[0])
        scores[t["id"]] = (p, w)
    check("cost_weight weighs a short task down and a long one up",
          scores["short"][1] < scores["short"][0] and scores["long"][1] > scores["long"][0],
          scores)
    plain = json.loads(belt(cfg, "eval", "--route", "plain", "--replay", pair, "--json",
                            "--no-record").stdout)
    check("without cost_weight the step shows p alone",
          not any("cost-weighted" in s["reason"] for t in plain["traces"] for s in t["steps"]),
          plain["traces"])


def arithmetic(tmp):
    """A cascade that accepts the small model's worked answer only when its stated arithmetic
    holds and its final answer is one of its results; APGR of a curve that cannot reach x = 0."""
    data = os.path.join(tmp, "worked.jsonl")
    small = [("What is 2 + 2?", "2 + 2 = 4\n#### 4", True),
             ("What is 3 x 3?", "3 x 3 = 10\n#### 10", False),
             ("What is 5 - 1?", "5 - 1 = 4\n#### 4", True),
             ("What is 6 / 3?", "6 / 2 = 3\n#### 3", False),
             ("What is 7 + 1?", "7 + 1 = 8\n#### 9", False)]
    with open(data, "w") as f:
        for i, (q, a, ok) in enumerate(small):
            f.write(json.dumps({"id": "w%d" % i, "query": q, "models": {
                "small": {"answer": a, "correct": ok, "cost_usd": 0.0001},
                "large": {"answer": "right", "correct": True, "cost_usd": 0.002}}}) + "\n")
    cfg = two_model_config(tmp, "worked", {
        "worked": "{ cascade: [ { model: small, accept: { arithmetic: { final: '#### (\\d+)$' } } },"
                  " large ] }",
        "thorough": "{ cascade: [ { model: small, accept: { arithmetic: { max_unused: 0 } } }, "
                    "large ] }"})
    rep = json.loads(belt(cfg, "eval", "--route", "worked", "--replay", data, "--json",
                          "--no-record").stdout)
    why = {t["id"]: t["steps"][0]["reason"] for t in rep["traces"]}
    check("arithmetic: a wrong calculation escalates, with the calculation named",
          why.get("w1") == "1 of 1 stated calculations wrong: 3 x 3 = 10 (is 9)", why)
    check("arithmetic: a final answer that is no stated result escalates",
          why.get("w4") == "the final answer 9 is no result of the stated calculations", why)
    check("arithmetic: right arithmetic is accepted, even for a wrong answer",
          why.get("w0") == "1 stated calculation holds, final 4" and
          why.get("w3") == "1 stated calculation holds, final 3", why)
    # 2 of 5 escalated (x = 0.4) at accuracy 4/5; weak 2/5, strong 1: the curve is joined to
    # (0, 0.4) and (1, 1): APGR = ((0.4 + 0.8) / 2 * 0.4 + (0.8 + 1) / 2 * 0.6 - 0.4) / 0.6
    check("arithmetic: accuracy 4/5 with 2 of 5 escalated", abs(rep["accuracy"] - 0.8) < 1e-9,
          rep["accuracy"])
    check("arithmetic: APGR joins the curve to the weak-only end",
          abs(rep["apgr"] - (0.24 + 0.54 - 0.4) / 0.6) < 1e-9, rep["apgr"])
    # the task's text reaches the check: a number of the task that the working never uses
    unused = os.path.join(tmp, "unused.jsonl")
    with open(unused, "w") as f:
        for tid, q in (("u0", "Add 4, 4 and 1."), ("u1", "Add 4 and 4.")):
            f.write(json.dumps({"id": tid, "query": q, "models": {
                "small": {"answer": "4 + 4 = 8", "correct": tid == "u1", "cost_usd": 0.0001},
                "large": {"answer": "right", "correct": True, "cost_usd": 0.002}}}) + "\n")
    rep = json.loads(belt(cfg, "eval", "--route", "thorough", "--replay", unused, "--json",
                          "--no-record").stdout)
    why = {t["id"]: t["steps"][0]["reason"] for t in rep["traces"]}
    check("arithmetic: max_unused reads the task's numbers",
          why.get("u0") == "1 number of the task unused (at most 0), first 1" and
          why.get("u1") == "1 stated calculation holds", why)


def tagged(tmp):
    """`belt router train --tags`: the same texts, the small model right under one tag only; the
    router tells the tags apart in `belt eval` and `belt router predict`."""
    data = os.path.join(tmp, "tagged.jsonl")
    with open(data, "w") as f:
        for i in range(300):
            tag = "billing" if i % 2 else "legal"
            ok = (i % 10 != 1) if tag == "billing" else (i % 10 == 0)
            f.write(json.dumps({"id": "g%d" % i, "query": "my account question %d" % (i % 7),
                                "tags": [tag], "models": {
                                    "small": {"correct": ok, "cost_usd": 0.0001},
                                    "large": {"correct": True, "cost_usd": 0.002}}}) + "\n")
    router = os.path.join(tmp, "tagged.belt")
    cfg = two_model_config(tmp, "tagged", {
        "by-tag": "{ learned: { router: %s, target: 0.6, tiers: [small, large] } }" % router})
    belt(cfg, "router", "train", "--data", data, "-o", router, "--tags", "--objective",
         "sufficient", "--quiet", "--no-record")
    rep = json.loads(belt(cfg, "eval", "--route", "by-tag", "--replay", data, "--json",
                          "--no-record").stdout)
    rows = {r["name"]: r for r in rep["shares"]["rows"]}
    check("router --tags: half the tasks (one tag) stay on the small tier",
          abs(rows.get("1: small", {}).get("share", 0) - 0.5) < 0.01, rows)
    p = subprocess.run([BIN, "router", "predict", "-m", router], capture_output=True, text=True,
                       timeout=60, input=json.dumps({"query": "my account question 3",
                                                     "tags": ["billing"]}) + "\n" +
                       json.dumps({"query": "my account question 3", "tags": ["legal"]}) + "\n")
    ps = [json.loads(l)["router"]["p_correct"]["small"] for l in p.stdout.splitlines()]
    check("router predict reads the record's tags", p.returncode == 0 and len(ps) == 2 and
          ps[0] > 0.7 > 0.3 > ps[1], (p.returncode, ps, p.stderr))
    p = subprocess.run([BIN, "router", "predict", "-m", router], capture_output=True, text=True,
                       timeout=60, input='{"query": "x", "tags": "legal"}\n')
    check("router predict: tags that are not a list are an error naming the line",
          p.returncode != 0 and "tags" in p.stderr and ":1" in p.stderr, (p.returncode, p.stderr))


def routellm(tmp):
    src = os.path.join(SHARED, "data", "routing", "routellm")
    if not SHARED or not os.path.isdir(src):
        return False
    out = os.path.join(tmp, "rl")
    subprocess.run([sys.executable, os.path.join(SRC, "scripts", "routellm_outcomes.py"),
                    "--src", src, "--out", out], check=True, capture_output=True, timeout=600)
    n = sum(1 for _ in open(os.path.join(out, "gsm8k.test.jsonl"))) + \
        sum(1 for _ in open(os.path.join(out, "gsm8k.train.jsonl")))
    check("routellm gsm8k decontaminated to 1307 tasks", n == 1307, n)
    cfg = os.path.join(tmp, "rl.yaml")
    with open(cfg, "w") as f:
        f.write(RL_CONFIG % {"dir": tmp})
    belt(cfg, "router", "train", "--data", os.path.join(out, "gsm8k.train.jsonl"), "-o",
         os.path.join(tmp, "gsm.belt"), "--objective", "sufficient", "--quiet", "--no-record")
    rep = json.loads(belt(cfg, "eval", "--route", "smart", "--replay",
                          os.path.join(out, "gsm8k.test.jsonl"), "--json", "--no-record").stdout)
    m = {x["name"]: x for x in rep["models"]}
    weak, strong = m["mixtral-8x7b"]["accuracy"], m["gpt-4-1106"]["accuracy"]
    check("routellm: strong model is better", 0.5 < weak < strong < 0.95, (weak, strong))
    accs = [p["accuracy"] for p in rep["sweep"]["points"]]
    check("routellm: the curve spans weak to strong",
          abs(min(accs) - weak) < 0.03 and abs(max(accs) - strong) < 0.03, (min(accs), max(accs)))
    check("routellm: APGR in a sane range", 0.35 < rep["apgr"] < 1.0, rep["apgr"])
    check("routellm: AIQ within the accuracy range", weak - 0.05 < rep["aiq"] < strong + 0.01,
          rep["aiq"])
    return True


def main():
    if not BIN or not os.path.exists(BIN):
        print("1..0 # SKIP belt not built (BELT_BIN)")
        return 0
    tmp = tempfile.mkdtemp(prefix="belt-routes-")
    skipped = False
    try:
        synthetic(tmp)
        cost_weighted(tmp)
        arithmetic(tmp)
        tagged(tmp)
        skipped = not routellm(tmp)
    except Exception as e:  # an unexpected exit or parse failure is a failed check
        check("no unexpected failure", False, repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(results))
    bad = 0
    for i, (name, ok, detail) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
        if not ok:
            bad += 1
            print("# %s" % (detail,))
    if skipped:
        print("# RouteLLM part skipped: ../shared/data/routing/routellm not found")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
