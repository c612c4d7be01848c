#!/usr/bin/env python3
"""Helpers of bench/classifier/run.sh (python3 stdlib only). Scoring reuses
../shared/bench/fasttext/ftbench.py (imported, not copied) so both tools are scored alike.

  bench.py split SRC_DIR DST_DIR        train/dev/test for both tools (dev carved if missing:
                                        every 10th example of each label, in file order)
  bench.py repeat TEST.jsonl N          N lines of {"text"} cycling through the test set
  bench.py record belt NAME REP DATA_DIR MODEL T0 T1 T2 T3 PRED_LINES THREADS
  bench.py fasttext RESULTS WORK CONFIG DATA_DIR...   fastText records with the same metrics
  bench.py summarize RESULTS            markdown table of medians (min-max)
  bench.py recascade RESULTS WORK       recompute the cascade columns from the stored predictions
"""
import json
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "bench", "fasttext"))
import ftbench  # noqa: E402

TARGET, Z = 0.95, 1.0  # the rule of `belt train` (target_accuracy 0.95, threshold_z 1)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def split(src, dst):
    os.makedirs(dst, exist_ok=True)
    train = read_jsonl(os.path.join(src, "train.jsonl"))
    dev_path = os.path.join(src, "dev.jsonl")
    if os.path.exists(dev_path):
        dev = read_jsonl(dev_path)
    else:
        seen, tr, dev = {}, [], []
        for o in train:
            k = seen.get(o["label"], 0)
            seen[o["label"]] = k + 1
            (dev if k % 10 == 9 else tr).append(o)
        train = tr
    for name, rows in (("train", train), ("dev", dev)):
        with open(os.path.join(dst, name + ".jsonl"), "w", encoding="utf-8") as f:
            for o in rows:
                f.write(json.dumps({"text": o["text"], "label": o["label"]}) + "\n")
    test = os.path.join(dst, "test.jsonl")
    if not os.path.exists(test):
        os.symlink(os.path.abspath(os.path.join(src, "test.jsonl")), test)


def repeat(test, n):
    rows = read_jsonl(test)
    out = sys.stdout
    for i in range(n):
        out.write(json.dumps({"text": rows[i % len(rows)]["text"]}) + "\n")


def wilson_lower(ok, n, z):
    if n == 0:
        return 0.0
    p = ok / n
    c = p + z * z / (2 * n)
    s = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (c - s) / (1 + z * z / n)


def pick_threshold(gold, pred):
    """Lowest confidence t such that the Wilson lower bound of accuracy over {p >= t} >= TARGET."""
    items = sorted(zip(gold, pred), key=lambda x: -x[1][1])
    ok, best = 0, None
    for i, (g, (l, p)) in enumerate(items):
        ok += g == l
        if i + 1 < len(items) and items[i + 1][1][1] == p:
            continue
        if wilson_lower(ok, i + 1, Z) >= TARGET:
            best = p
    return best


def cascade(dev_gold, dev_pred, test_gold, test_pred):
    t = pick_threshold(dev_gold, dev_pred)
    if t is None:
        return {"threshold": None, "coverage": 0.0, "accuracy": None}
    sel = [(g, l) for g, (l, p) in zip(test_gold, test_pred) if p >= t]
    return {"threshold": t, "coverage": len(sel) / len(test_gold),
            "accuracy": sum(g == l for g, l in sel) / len(sel) if sel else None}


def macro_f1(gold, pred):
    labels = set(gold) | {l for l, _ in pred}
    f1 = []
    for lab in labels:
        tp = sum(g == lab and l == lab for g, (l, _) in zip(gold, pred))
        fp = sum(g != lab and l == lab for g, (l, _) in zip(gold, pred))
        fn = sum(g == lab and l != lab for g, (l, _) in zip(gold, pred))
        if 2 * tp + fp + fn:
            f1.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1) / len(f1)


def belt_preds(pred_jsonl, pred_txt):
    """belt predict output -> ftbench's "<label> <prob>" lines."""
    with open(pred_txt, "w", encoding="utf-8") as f:
        for o in read_jsonl(pred_jsonl):
            f.write("%s %.6f\n" % ("_".join(o["label"].split()), o["confidence"]))


def metrics(data_dir, test_pred, dev_pred):
    test = os.path.join(data_dir, "test.jsonl")
    dev = os.path.join(data_dir, "dev.jsonl")
    tg, tp = ftbench.load(test, test_pred)
    oos = "oos" if "oos" in tg else None
    ev = ftbench.evaluate(test, test_pred, oos, dev if oos and dev_pred else None,
                          dev_pred if oos else None)
    out = {"acc": ev["acc"], "macro_f1": macro_f1(tg, tp), "eval": ev}
    if dev_pred and os.path.exists(dev_pred):
        dg, dp = ftbench.load(dev, dev_pred)
        out["cascade"] = cascade(dg, dp, tg, tp)
    return out


def last_number(path):
    with open(path) as f:
        return int(f.read().split()[-1])


def record(args):
    tool, name, rep, data_dir, model = args[:5]
    t0, t1, t2, t3 = map(float, args[5:9])
    lines, threads = int(args[9]), int(args[10])
    belt_preds(model + ".test.jsonl", model + ".test.pred")
    belt_preds(model + ".dev.jsonl", model + ".dev.pred")
    r = {"tool": tool, "dataset": name, "rep": int(rep), "threads": threads,
         "train_s": t1 - t0, "train_rss_kb": last_number(model + ".train.time"),
         "model_bytes": os.path.getsize(model), "pred_lines": lines, "pred_s": t3 - t2,
         "pred_lps_incl": lines / (t3 - t2), "pred_rss_kb": last_number(model + ".pred.time")}
    r.update(metrics(data_dir, model + ".test.pred", model + ".dev.pred"))
    print(json.dumps(r))


def fasttext(results, work, config, dirs):
    bydir = {os.path.basename(d.rstrip("/")): d for d in dirs}
    for r in read_jsonl(results):
        if r["config"] != config or r["dataset"] not in bydir:
            continue
        base = os.path.join(work, r["dataset"], "%s.r%d" % (config, r["rep"]))
        dev_pred = base + ".dev.pred"
        out = {"tool": "fasttext", "dataset": r["dataset"], "rep": r["rep"],
               "threads": r["threads"], "train_s": r["train_s"], "train_rss_kb": r["train_rss_kb"],
               "model_bytes": r["model_bytes"], "pred_lines": r["pred_lines"],
               "pred_s": r["pred_s"], "pred_lps_incl": r["pred_lps_incl"],
               "pred_rss_kb": r["pred_rss_kb"], "args": r["args"], "config": config}
        out.update(metrics(bydir[r["dataset"]], base + ".test.pred",
                           dev_pred if os.path.exists(dev_pred) else None))
        print(json.dumps(out))


def summarize(path):
    rows = read_jsonl(path)
    keys = []
    for r in rows:
        if (r["dataset"], r["tool"]) not in keys:
            keys.append((r["dataset"], r["tool"]))

    def cell(xs, fmt, scale=1.0):
        xs = [x * scale for x in xs if x is not None]
        if not xs:
            return "n/a"
        return (fmt % statistics.median(xs)) + " (" + (fmt % min(xs)) + "–" + (fmt % max(xs)) + ")"

    print("| dataset | tool | accuracy % | macro-F1 % | train s | train RSS MB | model MB "
          "| predict lines/s (incl. load) | predict RSS MB | cascade: coverage % at dev threshold "
          "| accuracy there % | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in sorted(keys):
        rs = [r for r in rows if (r["dataset"], r["tool"]) == k]
        cas = [r.get("cascade") or {} for r in rs]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            k[0], k[1], cell([r["acc"] for r in rs], "%.2f", 100),
            cell([r["macro_f1"] for r in rs], "%.2f", 100), cell([r["train_s"] for r in rs], "%.2f"),
            cell([r["train_rss_kb"] for r in rs], "%.0f", 1 / 1024),
            cell([r["model_bytes"] for r in rs], "%.2f", 1e-6),
            cell([r["pred_lps_incl"] for r in rs], "%.0f"),
            cell([r["pred_rss_kb"] for r in rs], "%.0f", 1 / 1024),
            cell([c.get("coverage") for c in cas], "%.1f", 100),
            cell([c.get("accuracy") for c in cas], "%.2f", 100), len(rs)))
    oos = [(k, [r for r in rows if (r["dataset"], r["tool"]) == k]) for k in sorted(keys)]
    oos = [(k, rs) for k, rs in oos if "oos_argmax" in rs[0]["eval"]]
    if oos:
        print("\nCLINC150 out-of-scope (oos is a trained label; argmax):\n")
        print("| tool | in-scope acc % | oos recall % |")
        print("|---|---|---|")
        for k, rs in oos:
            print("| %s | %s | %s |" % (k[1], cell([r["eval"]["oos_argmax"]["inscope_acc"] for r in rs], "%.2f", 100),
                                        cell([r["eval"]["oos_argmax"]["oos_recall"] for r in rs], "%.1f", 100)))


def recascade(results, work):
    rows = read_jsonl(results)
    for r in rows:
        if r["tool"] == "belt":
            base = os.path.join(work, "belt", r["dataset"], "m.r%d.belt" % r["rep"])
        else:
            base = os.path.join(work, "fasttext", r["dataset"], "%s.r%d" % (
                r.get("config", "w2c"), r["rep"]))
        data = os.path.join(work, "data", r["dataset"])
        if os.path.exists(base + ".dev.pred"):
            tg, tp = ftbench.load(os.path.join(data, "test.jsonl"), base + ".test.pred")
            dg, dp = ftbench.load(os.path.join(data, "dev.jsonl"), base + ".dev.pred")
            r["cascade"] = cascade(dg, dp, tg, tp)
    with open(results, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "split":
        split(a[0], a[1])
    elif cmd == "repeat":
        repeat(a[0], int(a[1]))
    elif cmd == "record":
        record(a)
    elif cmd == "fasttext":
        fasttext(a[0], a[1], a[2], a[3:])
    elif cmd == "summarize":
        summarize(a[0])
    elif cmd == "recascade":
        recascade(a[0], a[1])
    else:
        sys.exit("unknown command " + cmd)
