#!/usr/bin/env python3
"""Routing benchmark (bench/README.md#routes): the learned router on RouteLLM's MMLU and GSM8K
held-out splits, a verifier cascade on GSM8K, router decision time, and a Banking77 cascade with
belt's classifier as tier 1 and a replayed stronger model as tier 2. Standard library only.

  bench/routes/run.sh        # BELT_BUILD=build WORK=/tmp/belt-bench-routes SEEDS=5
                             # PARTS=learned,verifier,time,banking77

Every figure is the median over SEEDS router seeds with (min-max); the machine load is printed.
"""
import hashlib
import json
import math
import os
import random
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("BELT_BUILD", os.path.join(TOP, "build")))
BELT = os.path.join(BUILD, "belt")
BENCH = os.path.join(BUILD, "bench", "bench_router")
SHARED = os.path.abspath(os.environ.get("BELT_SHARED_DIR", os.path.join(TOP, "..", "shared")))
WORK = os.path.abspath(os.environ.get("WORK", "/tmp/belt-bench-routes"))
SEEDS = int(os.environ.get("SEEDS", "5"))
PARTS = os.environ.get("PARTS", "learned,verifier,time,banking77").split(",")
WEAK, STRONG = "mixtral-8x7b", "gpt-4-1106"
COST_WEIGHT = 0.5  # the learned route's cost_weight row (chosen on 5-fold CV inside train)
TAGS_WEIGHT = 0.1  # the MMLU router with subject tags: its cost_weight (same dev folds)
# The MMLU router with subject tags whose trainer chooses its features and L2 on its dev split
# (`--search`), and its cost_weight (chosen on the same dev folds).
SEARCH_ARGS = ("--search",)
SEARCH_WEIGHT = 0.1


def run(*cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(map(str, cmd)), p.stdout[-3000:],
                                       p.stderr[-3000:]))
    return p.stdout


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def med(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return "%.3f (%.3f-%.3f)" % (statistics.median(xs), min(xs), max(xs))


def pct(xs):
    xs = [100 * x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return "%.1f%% (%.1f-%.1f)" % (statistics.median(xs), min(xs), max(xs))


def write_config(path, models, routes):
    with open(path, "w") as f:
        f.write("store: { path: %s }\n%s" % (os.path.join(WORK, "belt.db"),
                                             "models:\n" if models else ""))
        for name, price in models:
            f.write("  %s: { provider: replay, price: { input: %g, output: %g } }\n" %
                    ((name,) + price))
        f.write("routes:\n" if routes else "")
        for name, body in routes:
            f.write("  %s: %s\n" % (name, body))


def evaluate(cfg, route, replay, *extra):
    return json.loads(run(BELT, "-c", cfg, "eval", "--route", route, "--replay", replay, "--json",
                          "--no-record", *extra))


def random_router_saving(rep, q=0.95):
    """Saving of a router that sends a random share f of tasks to the strong model."""
    m = {x["name"]: x for x in rep["models"]}
    w, s = m[WEAK], m[STRONG]
    target = q * s["accuracy"]
    f = min(1.0, max(0.0, (target - w["accuracy"]) / (s["accuracy"] - w["accuracy"])))
    cost = w["cost_usd_per_task"] + f * (s["cost_usd_per_task"] - w["cost_usd_per_task"])
    return 1 - cost / s["cost_usd_per_task"]


def learned(ds, rl, objective, cost_weights=(0,), tags=False, args=()):
    """Rows per cost_weight: each seed's router evaluated once per weight (trained once). With
    tags, the router also reads the tasks' tags (MMLU: the subject); args go to the trainer."""
    cfg = os.path.join(WORK, "rl-%s-%s.yaml" % (ds, objective))
    rows = {w: [] for w in cost_weights}
    for seed in range(1, SEEDS + 1):
        router = os.path.join(WORK, "%s-%s%s%s-%d.belt" % (ds, objective, "-tags" if tags else "",
                                                           "-args" if args else "", seed))
        run(BELT, "router", "train", "--data", os.path.join(rl, ds + ".train.jsonl"), "-o", router,
            "--objective", objective, "--seed", seed, "--quiet", "--no-record",
            *(["--tags"] if tags else []), *args)
        for w in cost_weights:
            write_config(cfg, [(WEAK, (0.6, 0.6)), (STRONG, (10, 30))],
                         [("smart", "{ learned: { router: %s, target: 0.8, cost_weight: %g, "
                           "tiers: [%s, %s] } }" % (router, w, WEAK, STRONG))])
            rows[w].append(evaluate(cfg, "smart", os.path.join(rl, ds + ".test.jsonl")))
    return rows


def strong_call_reduction(rep, q=0.95):
    """RouteLLM's own cost measure: 1 - the smallest share of tasks sent to the strong model
    among the sweep points that reach q of the strong model's accuracy."""
    s = {x["name"]: x for x in rep["models"]}[STRONG]["accuracy"]
    if not rep["sweep"]:  # nothing swept: the operating point alone
        strong = sum(r["share"] for r in rep["shares"]["rows"] if r["name"].startswith("2:"))
        return 1 - strong if rep["accuracy"] >= q * s else None
    shares = [p["strong_share"] for p in rep["sweep"]["points"] if p["accuracy"] >= q * s]
    return 1 - min(shares) if shares else None


def summary(label, rows):
    return {"label": label,
            "strong_calls_saved95": pct([strong_call_reduction(r) for r in rows]),
            "saving95": pct([r["at_quality"]["saving"] for r in rows]),
            "saving95_hull": pct([r["at_quality"]["hull_saving"] for r in rows]),
            "saving100": pct([r["match_best"]["saving"] for r in rows]),
            "apgr": med([r["apgr"] for r in rows]),
            "cpt50": pct([r["cpt50"] for r in rows]),
            "cpt80": pct([r["cpt80"] for r in rows]),
            "aiq": med([r["aiq"] for r in rows]),
            "random_saving95": pct([random_router_saving(rows[0])])}


# The worked-arithmetic check of GSM8K answers (docs/routes.md, `arithmetic`): the final answer
# in GSM8K's format, an integer after ####, must be a result of the answer's calculations, and
# every number of the question must be used (max_unused: 0 was chosen on 5-fold CV inside train).
ARITHMETIC = "arithmetic: { final: '####\\s*\\$?(-?[\\d,]+)\\s*$', max_unused: 0 }"


def verifier_cascade(rl, objective, variants):
    """GSM8K: a scorer of Mixtral's answer (the router trainer on query + answer text, with its
    shape features and the given objective: P(Mixtral correct), or P(Mixtral correct or GPT-4
    wrong) for `sufficient`) as a verifier; its scores are replayed on the test split. Each
    variant is extra accept conditions next to the verifier ("" none; "ONLY " + conditions: those
    conditions without the verifier). Returns {variant: rows}."""
    def with_answer(src, dst):
        with open(src) as f, open(dst, "w") as g:
            for line in f:
                t = json.loads(line)
                t["query"] = t["query"] + "\n\nAnswer: " + t["models"][WEAK]["answer"]
                g.write(json.dumps(t) + "\n")
    tr, te = os.path.join(WORK, "gsm-qa.train.jsonl"), os.path.join(WORK, "gsm-qa.test.jsonl")
    with_answer(os.path.join(rl, "gsm8k.train.jsonl"), tr)
    with_answer(os.path.join(rl, "gsm8k.test.jsonl"), te)
    rows = {v: [] for v in variants}
    for seed in range(1, SEEDS + 1):
        scorer = os.path.join(WORK, "gsm-scorer-%s-%d.belt" % (objective, seed))
        run(BELT, "router", "train", "--data", tr, "-o", scorer, "--seed", seed, "--shape",
            "--objective", objective, "--quiet", "--no-record")
        scored = os.path.join(WORK, "gsm-verified.test.jsonl")
        out = run(BELT, "router", "predict", "-m", scorer, te)
        with open(os.path.join(rl, "gsm8k.test.jsonl")) as f, open(scored, "w") as g:
            for line, pred in zip(f, out.splitlines()):
                t = json.loads(line)
                p = json.loads(pred)["router"]["p_correct"][WEAK]
                t["models"][WEAK]["verify"] = {"scorer": p}
                g.write(json.dumps(t) + "\n")
        cfg = os.path.join(WORK, "gsm-verify.yaml")
        for v in variants:
            if v.startswith("ONLY "):
                accept = "{ %s }" % v[5:]
            else:
                accept = "{ verifier: { model: scorer, score: 0.5 }%s }" % (", " + v if v else "")
            write_config(cfg, [(WEAK, (0.6, 0.6)), (STRONG, (10, 30)), ("scorer", (0, 0))],
                         [("verified", "{ cascade: [ { model: %s, accept: %s }, %s ] }" %
                           (WEAK, accept, STRONG))])
            rows[v].append(evaluate(cfg, "verified", scored))
    return rows


def decision_time(rl):
    """The routers of seed 1 (PARTS=learned trains them): text alone, and MMLU's router with
    subject tags and a searched feature set."""
    out = {}
    for key, ds, name in (("mmlu", "mmlu", "sufficient"), ("gsm8k", "gsm8k", "sufficient"),
                          ("mmlu tags --search", "mmlu", "sufficient-tags-args")):
        router = os.path.join(WORK, "%s-%s-1.belt" % (ds, name))
        text = run(BENCH, router, os.path.join(rl, ds + ".test.jsonl"), 7)
        out[key] = text.strip().splitlines()[-1]
    return out


# ---- Banking77 ----------------------------------------------------------------------------

TIER2_ACCURACY = 0.93  # the replayed stronger model: gold label, else a random other label
TIER2_PROMPT_TOKENS = 350  # instructions + the 77 label names, sent with every query
TIER2_OUTPUT_TOKENS = 8


def u01(key):
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0**64


def banking77():
    """Splits (every 10th training example of each label is dev) and the tier-1 classifier."""
    src = os.path.join(SHARED, "data", "banking77")
    rows = [json.loads(l) for l in open(os.path.join(src, "train.jsonl"))]
    test = [json.loads(l) for l in open(os.path.join(src, "test.jsonl"))]
    labels = sorted({r["label"] for r in rows})
    seen, train, dev = {}, [], []
    for r in rows:  # every 10th example of each label is dev
        seen[r["label"]] = seen.get(r["label"], 0) + 1
        (dev if seen[r["label"]] % 10 == 0 else train).append(r)
    paths = {}
    for name, data in (("train", train), ("dev", dev), ("test", test)):
        paths[name] = os.path.join(WORK, "b77.%s.jsonl" % name)
        with open(paths[name], "w") as f:
            for r in data:
                f.write(json.dumps(r) + "\n")
    model = os.path.join(WORK, "b77-intent.belt")
    cfg = os.path.join(WORK, "b77-train.yaml")
    write_config(cfg, [], [])
    run(BELT, "-c", cfg, "train", "--data", paths["train"], "--dev", paths["dev"], "-o", model,
        "--quiet")
    return model, paths, labels


def b77_outcomes(model, paths, labels):
    out = {}
    for split in ("dev", "test"):
        src = [json.loads(l) for l in open(paths[split])]
        preds = [json.loads(l) for l in run(BELT, "predict", "-m", model, paths[split]).splitlines()]
        out[split] = os.path.join(WORK, "b77-outcomes.%s.jsonl" % split)
        with open(out[split], "w") as f:
            for i, (r, p) in enumerate(zip(src, preds)):
                key = "%s:%d:%s" % (split, i, r["text"])
                if u01("t2:" + key) < TIER2_ACCURACY:
                    t2 = r["label"]
                else:
                    others = [l for l in labels if l != r["label"]]
                    t2 = others[int(u01("wrong:" + key) * len(others))]
                tin = TIER2_PROMPT_TOKENS + math.ceil(len(r["text"]) / 4)
                task = {"id": "%s-%d" % (split, i), "query": r["text"], "expected": r["label"],
                        "models": {
                            "intent": {"answer": p["label"], "label": p["label"],
                                       "confidence": p["confidence"],
                                       "correct": p["label"] == r["label"], "cost_usd": 0,
                                       "latency_ms": 0.05},
                            "llm": {"answer": t2, "correct": t2 == r["label"],
                                    "cost_usd": (tin * 10 + TIER2_OUTPUT_TOKENS * 30) / 1e6,
                                    "latency_ms": 800}}}
                f.write(json.dumps(task) + "\n")
    return out


def banking77_cascade():
    model, paths, labels = banking77()
    reps = b77_outcomes(model, paths, labels)
    cfg = os.path.join(WORK, "b77.yaml")
    write_config(cfg, [("intent", (0, 0)), ("llm", (10, 30))],
                 [("cascade", "{ cascade: [ { model: intent, accept: { confidence: 0.9 } }, llm ] }"),
                  ("llm-only", "{ fixed: llm }")])
    dev = evaluate(cfg, "cascade", reps["dev"], "--points", "401")
    llm_dev = {m["name"]: m for m in dev["models"]}["llm"]["accuracy"]
    ok = [p for p in dev["sweep"]["points"] if p["accuracy"] >= llm_dev]
    theta = min(ok, key=lambda p: p["cost_usd_per_task"])["threshold"]
    write_config(cfg, [("intent", (0, 0)), ("llm", (10, 30))],
                 [("cascade", "{ cascade: [ { model: intent, accept: { confidence: %.10g } }, llm ] }"
                   % theta)])
    test = evaluate(cfg, "cascade", reps["test"])
    m = {x["name"]: x for x in test["models"]}
    kept = [r for r in test["shares"]["rows"] if r["name"].startswith("1:")]
    return {"threshold_from_dev": theta, "dev_llm_accuracy": llm_dev,
            "test_accuracy": test["accuracy"], "test_cost_per_task": test["cost_usd_per_task"],
            "llm_accuracy": m["llm"]["accuracy"], "llm_cost_per_task": m["llm"]["cost_usd_per_task"],
            "classifier_accuracy": m["intent"]["accuracy"],
            "kept_share": kept[0]["share"] if kept else 0.0,
            "kept_accuracy": kept[0]["accuracy"] if kept else None,
            "saving": 1 - test["cost_usd_per_task"] / m["llm"]["cost_usd_per_task"],
            "test_apgr": test["apgr"], "test_aiq": test["aiq"],
            "test_saving95": test["at_quality"]["saving"]}


def main():
    os.makedirs(WORK, exist_ok=True)
    print("load at start: %s" % load())
    rl = os.path.join(WORK, "rl")
    print(run(sys.executable, os.path.join(TOP, "scripts", "routellm_outcomes.py"), "--src",
              os.path.join(SHARED, "data", "routing", "routellm"), "--out", rl).strip())
    results = {"load_start": load(), "seeds": SEEDS, "learned": [], "verifier": None}
    for ds in ("mmlu", "gsm8k") if "learned" in PARTS else ():
        runs = [("correct", (0,), False, ()), ("sufficient", (0, COST_WEIGHT), False, ())]
        if ds == "mmlu":
            runs.append(("sufficient", (0, TAGS_WEIGHT), True, ()))
            runs.append(("sufficient", (0, SEARCH_WEIGHT), True, SEARCH_ARGS))
        for obj, weights, tags, args in runs:
            for w, rows in learned(ds, rl, obj, weights, tags, args).items():
                s = summary("%s %s%s%s%s" % (ds, obj, " tags" if tags else "",
                                             " " + " ".join(args) if args else "",
                                             " cost_weight %g" % w if w else ""), rows)
                results["learned"].append(s)
                print(json.dumps(s))
    if "verifier" in PARTS:
        results["verifier"] = []
        for obj, variants in (("correct", ("", ARITHMETIC, "ONLY " + ARITHMETIC)),
                              ("sufficient", ("",))):
            for v, rows in verifier_cascade(rl, obj, variants).items():
                label = "gsm8k verifier cascade, scorer objective %s" % obj
                if v.startswith("ONLY "):
                    label = "gsm8k cascade, accept %s alone" % v[5:]
                elif v:
                    label += ", and %s" % v
                s = summary(label, rows)
                results["verifier"].append(s)
                print(json.dumps(s))
    if "time" in PARTS:
        results["decision_time"] = decision_time(rl)
        print(json.dumps(results["decision_time"]))
    if "banking77" in PARTS:
        results["banking77"] = banking77_cascade()
        print(json.dumps(results["banking77"]))
    results["load_end"] = load()
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("load at end: %s; results in %s" % (results["load_end"],
                                               os.path.join(WORK, "results.json")))


if __name__ == "__main__":
    main()
