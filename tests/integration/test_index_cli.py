#!/usr/bin/env python3
"""Integration test for `belt index`: JSONL, text files, directories and stdin indexed into a
corpus of the store; bad input reported by file and line (skip or stop); replacement of a
document id; chunking; --stats, --query (FTS syntax in the query is plain text), --drop; usage
errors. Drives the real binary ($BELT_BIN) in a temporary directory."""
import json
import os
import subprocess
import sys
import tempfile

BELT = os.environ.get("BELT_BIN")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def belt(tmp, *args, stdin=None):
    p = subprocess.run([BELT, "-c", os.path.join(tmp, "belt.yaml"), "index", *args], cwd=tmp,
                       input=stdin, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def stats(tmp):
    rc, out, err = belt(tmp, "--stats", "--json")
    check(rc == 0, f"stats exit 0 (got {rc}: {err})")
    return {o["corpus"]: o for o in map(json.loads, out.splitlines())}


def query(tmp, corpus, text, *extra):
    rc, out, err = belt(tmp, "--query", text, "--corpus", corpus, "--json", *extra)
    check(rc == 0, f"query {text!r} exit 0 (got {rc}: {err})")
    return [json.loads(line) for line in out.splitlines()]


def write(tmp, name, content, mode="w"):
    path = os.path.join(tmp, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(content)
    return path


def test_jsonl_with_bad_lines(tmp):
    write(tmp, "kb.jsonl",
          '{"id": "refunds", "text": "Refunds are issued within five days."}\n'
          '{"id": 7, "text": "Shipping takes a week; express shipping costs extra."}\n'
          'this is not json\n'
          '{"id": "no-text"}\n'
          '\n'
          '{"id": "returns", "text": "Returns are free and the refund follows."}\n')
    rc, out, err = belt(tmp, "--corpus", "kb", "kb.jsonl")
    check(rc == 1, f"bad lines skipped give exit 1 (got {rc})")
    check("kb.jsonl:3" in err and "(skipped)" in err, f"line 3 reported: {err}")
    check("kb.jsonl:4: no \"text\" field" in err, f"line 4 reported: {err}")
    check("indexed 3 documents (3 passages)" in err and "2 bad inputs skipped" in err,
          f"summary: {err}")
    s = stats(tmp)
    check(s.get("kb", {}).get("documents") == 3, f"3 documents in kb: {s}")
    hits = query(tmp, "kb", "refund")
    check([h["id"] for h in hits] == ["refunds", "returns"] or
          sorted(h["id"] for h in hits) == ["refunds", "returns"], f"refund hits: {hits}")
    check(all({"id", "chunk", "score", "text"} <= set(h) for h in hits), "result fields")
    check(query(tmp, "kb", "express")[0]["id"] == "7", "integer ids become strings")


def test_stop_on_bad_input(tmp):
    write(tmp, "stop.jsonl",
          '{"id": "a", "text": "alpha"}\n{"id": "b"}\n{"id": "c", "text": "gamma"}\n')
    rc, out, err = belt(tmp, "--corpus", "stop", "--on-bad-input", "stop", "stop.jsonl")
    check(rc == 1, f"stop gives exit 1 (got {rc})")
    check("stop.jsonl:2" in err and "stopped at the first bad input" in err, f"stop message: {err}")
    s = stats(tmp)
    check(s.get("stop", {}).get("documents") == 1, f"only the document before the bad line: {s}")


def test_replace_and_chunks(tmp):
    write(tmp, "v1.jsonl", '{"id": "doc", "text": "old words about routers"}\n')
    write(tmp, "v2.jsonl", json.dumps({"id": "doc", "text": " ".join(
        f"w{i}." if i % 10 == 9 else f"w{i}" for i in range(50))}) + "\n")
    check(belt(tmp, "--corpus", "rep", "v1.jsonl")[0] == 0, "index v1")
    rc, out, err = belt(tmp, "--corpus", "rep", "--chunk", "10", "--overlap", "2", "v2.jsonl")
    check(rc == 0, f"index v2 (got {rc}: {err})")
    s = stats(tmp)["rep"]
    check(s["documents"] == 1 and s["passages"] >= 5, f"one document, several passages: {s}")
    check(query(tmp, "rep", "routers") == [], "old version gone")
    hits = query(tmp, "rep", "w25")  # in two passages: the overlap repeats it
    check(len(hits) == 2 and {h["id"] for h in hits} == {"doc"} and
          hits[0]["chunk"] != hits[1]["chunk"], f"chunk hits: {hits}")
    check(query(tmp, "rep", "w0")[0]["chunk"] == 0, "first passage is chunk 0")


def test_directory_and_stdin(tmp):
    write(tmp, "docs/a.md", "# Modems\nReset the modem by holding the button.\n")
    write(tmp, "docs/sub/b.txt", "Printers need toner.\n")
    write(tmp, "docs/.hidden", "secret modem notes\n")
    write(tmp, "docs/bin.dat", b"\x00\x01modem", "wb")
    rc, out, err = belt(tmp, "--corpus", "dir", "docs/")
    check(rc == 1 and "bin.dat: not UTF-8 text (skipped)" in err, f"binary skipped: {rc} {err}")
    ids = sorted(h["id"] for h in query(tmp, "dir", "modem printers"))
    check(ids == ["a.md", "sub/b.txt"], f"relative ids, hidden skipped: {ids}")
    rc, out, err = belt(tmp, "--corpus", "in", "-", stdin='{"id": "s", "text": "from stdin"}\n')
    check(rc == 0 and query(tmp, "in", "stdin")[0]["id"] == "s", f"stdin: {rc} {err}")


def test_query_is_plain_text(tmp):
    for q in ['"', 'refund" OR "', "corpus:*", "NEAR(a b", "x AND (", "-- ; DROP TABLE passages"]:
        rc, out, err = belt(tmp, "--query", q, "--corpus", "kb")
        check(rc == 0, f"query {q!r} exit 0 (got {rc}: {err})")
    rc, out, err = belt(tmp, "--query", "five days", "--corpus", "kb", "-k", "1")
    check(rc == 0 and "refunds#0" in out, f"text output: {out}")


def test_drop_and_usage(tmp):
    rc, out, err = belt(tmp, "--drop", "--corpus", "in")
    check(rc == 0 and "dropped corpus 'in' (1 passage)" in err, f"drop: {rc} {err}")
    check("in" not in stats(tmp), "dropped corpus gone")
    for args, needle in [((), "--corpus NAME is required"),
                         (("--corpus", "x"), "name at least one"),
                         (("--corpus", "x", "--chunk", "5", "--overlap", "5", "f"), "--overlap"),
                         (("--stats", "--drop"), "alternatives"),
                         (("--corpus", "x", "--bogus", "f"), "unknown option"),
                         (("--corpus", "x", "--on-bad-input", "maybe", "f"), "skip or stop"),
                         (("--query", "x", "--corpus", "kb", "-k", "0"), "-k must be")]:
        rc, out, err = belt(tmp, *args)
        check(rc == 2 and needle in err, f"usage {args}: exit {rc}, {err.strip()}")
    rc, out, err = belt(tmp, "--help")
    check(rc == 0 and "usage: belt" in out, "--help")
    rc, out, err = belt(tmp, "--corpus", "x", "missing.jsonl")
    check(rc == 1 and "missing.jsonl" in err, f"missing file: {rc} {err}")


def main():
    if not BELT:
        print("BELT_BIN not set")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp, "belt.yaml", "store: { path: t.db }\n")
        test_jsonl_with_bad_lines(tmp)
        test_stop_on_bad_input(tmp)
        test_replace_and_chunks(tmp)
        test_directory_and_stdin(tmp)
        test_query_is_plain_text(tmp)
        test_drop_and_usage(tmp)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
