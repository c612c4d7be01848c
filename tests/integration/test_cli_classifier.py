#!/usr/bin/env python3
"""belt train / predict / eval end to end: the example intent data, the store records, every
kind of bad input (with file:line in the message and the right exit code), a corrupted model,
and interrupted training (SIGINT, kill -9) never leaving a half-written model."""
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

BELT = os.environ["BELT_BIN"]
SRC = os.environ["BELT_SRC_DIR"]
TMP = tempfile.mkdtemp(prefix="belt-clf-")
ENV = dict(os.environ, BELT_CONFIG="")
failures = []


def run(*args, stdin=None, expect=0):
    p = subprocess.run([BELT, *args], input=stdin, capture_output=True, cwd=TMP, env=ENV,
                       timeout=300)
    if p.returncode != expect:
        raise AssertionError("belt %s: exit %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), p.returncode, expect, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def case(fn):
    try:
        fn()
        print("ok - " + fn.__name__)
    except Exception as e:  # report every failing case, not only the first
        failures.append(fn.__name__)
        print("not ok - %s: %s" % (fn.__name__, e))
    return fn


def path(name):
    return os.path.join(TMP, name)


def write(name, text, mode="w"):
    with open(path(name), mode) as f:
        f.write(text)
    return path(name)


def sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# The example data, small.
subprocess.run([sys.executable, os.path.join(SRC, "examples/intents/gen_intents.py"), "--out",
                path("data"), "--per-intent", "60"], check=True, capture_output=True)
TRAIN, DEV, TEST = (path("data/%s.jsonl" % s) for s in ("train", "dev", "test"))


@case
def train_writes_model_and_registers_it():
    p = run("train", "--data", TRAIN, "--dev", DEV, "-o", "intents.belt", "-t", "2")
    assert "18 labels" in p.stdout.decode(), p.stdout
    assert os.path.getsize(path("intents.belt")) > 0
    models = run("models", "--json").stdout.decode()
    rec = json.loads(models.splitlines()[0])
    assert rec["name"] == "intents" and rec["kind"] == "classifier", rec
    assert rec["checksum"] == sha(path("intents.belt"))
    assert 0.5 < rec["metrics"]["dev"]["accuracy"] <= 1.0, rec["metrics"]


@case
def train_quantized_is_smaller():
    run("train", "--data", TRAIN, "-o", "q.belt", "--quantize", "--name", "q8", "--quiet")
    assert os.path.getsize(path("q.belt")) < os.path.getsize(path("intents.belt")) * 0.7


@case
def predict_adds_fields_and_keeps_others():
    inp = b'{"id": 7, "text": "where is my order #48213", "meta": {"a": [1, 2]}}\n\n{"text": ""}\n'
    out = run("predict", "-m", "intents.belt", "--top-k", "2", stdin=inp).stdout.decode()
    rows = [json.loads(l) for l in out.splitlines()]
    assert len(rows) == 2, out
    assert rows[0]["id"] == 7 and rows[0]["meta"] == {"a": [1, 2]}
    assert rows[0]["label"] == "order_status", rows[0]
    assert len(rows[0]["top_k"]) == 2 and rows[0]["top_k"][0]["label"] == "order_status"
    assert 0 < rows[0]["confidence"] <= 1
    assert "abstained" not in rows[0]


@case
def predict_abstains_below_threshold_and_replaces_label():
    inp = b'{"text": "asdf qwer zxcv", "label": "gold"}\n'
    row = json.loads(run("predict", "-m", "intents.belt", "--threshold", "1", stdin=inp).stdout)
    assert row["label"] == "abstain" and row["abstained"] is True, row
    assert row["top_k"][0]["label"] != "abstain"


@case
def eval_reports_and_records_run():
    out = run("eval", "-m", "intents.belt", TEST, "--json", "--target", "0.9").stdout
    r = json.loads(out)
    for k in ("accuracy", "macro_f1", "ece", "coverage", "target", "confusions", "dev_threshold"):
        assert k in r, k
    assert [c["threshold"] for c in r["coverage"]] == [0.5, 0.7, 0.8, 0.9, 0.95]
    assert r["target"]["accuracy"] == 0.9 and r["n"] > 100
    text = run("eval", "-m", "intents.belt", TEST).stdout.decode()
    assert "macro-F1" in text and "most confused" in text, text
    db = sqlite3.connect(path("belt.db"))
    n = db.execute("select count(*) from eval_runs where model = 'intents'").fetchone()[0]
    assert n == 2, n


@case
def bad_jsonl_line_names_the_line():
    f = write("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{oops\n')
    err = run("train", "--data", f, "-o", "m.belt", expect=1).stderr.decode()
    assert "bad.jsonl:3" in err, err
    assert not os.path.exists(path("m.belt"))


@case
def missing_fields_name_the_line():
    f = write("nofield.jsonl", '{"text": "a", "label": "x"}\n{"label": "y"}\n')
    err = run("train", "--data", f, "-o", "m.belt", expect=1).stderr.decode()
    assert "nofield.jsonl:2" in err and '"text"' in err, err
    f = write("nolabel.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    err = run("train", "--data", f, "-o", "m.belt", expect=1).stderr.decode()
    assert "nolabel.jsonl:2" in err and '"label"' in err, err
    f = write("other.jsonl", '{"q": "a", "y": "x"}\n{"q": "b", "y": "z"}\n')
    run("train", "--data", f, "--text-field", "q", "--label-field", "y", "-o", "o.belt", "--quiet")


@case
def empty_and_single_label_data_are_errors():
    f = write("empty.jsonl", "\n\n")
    err = run("train", "--data", f, "-o", "m.belt", expect=1).stderr.decode()
    assert "empty.jsonl" in err and "no examples" in err, err
    f = write("one.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n')
    err = run("train", "--data", f, "-o", "m.belt", expect=1).stderr.decode()
    assert "single label" in err, err


@case
def non_utf8_text_names_the_line():
    f = write("latin1.jsonl", b'{"text": "ok", "label": "x"}\n{"text": "caf\xe9", "label": "y"}\n', "wb")
    err = run("train", "--data", f, "-o", "m.belt", expect=1).stderr.decode()
    assert "latin1.jsonl:2" in err and "UTF-8" in err, err
    err = run("predict", "-m", "intents.belt", stdin=b'{"text": "caf\xe9"}\n', expect=1).stderr
    assert b"<stdin>:1" in err and b"UTF-8" in err, err


@case
def usage_errors_exit_2():
    assert b"--data" in run("train", "-o", "m.belt", expect=2).stderr
    assert b"-o" in run("train", "--data", TRAIN, expect=2).stderr
    run("train", "--data", TRAIN, "-o", "m.belt", "--epochs", "x", expect=2)
    run("predict", expect=2)
    run("predict", "-m", "intents.belt", "--threshold", "2", expect=2)
    run("eval", "-m", "intents.belt", expect=2)
    run("eval", "--bogus", expect=2)
    assert b"usage: belt" in run("train", "--help").stdout


@case
def corrupted_model_is_a_clear_error():
    data = bytearray(open(path("intents.belt"), "rb").read())
    data[len(data) // 2] ^= 0x10
    write("bad.belt", bytes(data), "wb")
    err = run("predict", "-m", "bad.belt", stdin=b'{"text": "x"}\n', expect=1).stderr.decode()
    assert "checksum" in err, err
    write("short.belt", bytes(data[:100]), "wb")
    err = run("eval", "-m", "short.belt", TEST, expect=1).stderr.decode()
    assert "truncated" in err, err
    err = run("predict", "-m", "nope.belt", stdin=b"", expect=1).stderr.decode()
    assert "nope.belt" in err, err


def big_training_set(name, n=40000):
    rng = random.Random(5)
    words = ["w%d" % i for i in range(3000)]
    with open(path(name), "w") as f:
        for i in range(n):
            f.write(json.dumps({"text": " ".join(rng.choice(words) for _ in range(30)),
                                "label": "l%d" % (i % 200)}) + "\n")
    return path(name)


def start_long_training(data, out):
    return subprocess.Popen([BELT, "train", "--data", data, "-o", out, "--epochs", "10000",
                             "--patience", "10000", "-t", "1", "--quiet"], cwd=TMP, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_training_started(p, seconds=1.5):
    time.sleep(seconds)
    assert p.poll() is None, "training ended too early"


@case
def kill_9_mid_training_keeps_previous_model():
    data = big_training_set("big.jsonl")
    before = sha(path("intents.belt"))
    p = start_long_training(data, "intents.belt")
    wait_training_started(p)
    p.kill()
    p.wait()
    assert sha(path("intents.belt")) == before  # the previous complete model is untouched
    p = start_long_training(data, "fresh.belt")
    wait_training_started(p)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not os.path.exists(path("fresh.belt"))
    leftovers = [f for f in os.listdir(TMP) if f.startswith("fresh.belt")]
    assert not leftovers, leftovers


@case
def sigint_stops_training_without_output():
    p = start_long_training(path("big.jsonl"), "int.belt")
    wait_training_started(p)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1, (p.returncode, err)
    assert b"interrupted" in err, err
    assert not os.path.exists(path("int.belt"))


subprocess.run(["rm", "-rf", TMP])
print("%d passed, %d failed" % (13 - len(failures), len(failures)))
sys.exit(1 if failures else 0)
