"""Shared helpers for the line integration tests (stdlib only): a temporary directory with a
belt.yaml, running `belt run`, reading outputs and the store."""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile

from gwlib import BIN, FAKE, Fake  # noqa: F401  (re-exported for the tests)


class Work:
    """A temporary directory with a configuration and a store."""

    def __init__(self, config_text):
        self.dir = tempfile.mkdtemp(prefix="belt-line-")
        self.config = self.path("belt.yaml")
        self.write("belt.yaml", config_text)
        self.db = self.path("belt.db")

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def write_jsonl(self, name, records):
        return self.write(name, "".join(json.dumps(r) + "\n" for r in records))

    def belt(self, *args, check=None, timeout=120, env=None):
        """Run belt -c belt.yaml ARGS; returns the CompletedProcess."""
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([BIN, "-c", self.config] + list(args), cwd=self.dir,
                           capture_output=True, text=True, timeout=timeout, env=e)
        if "Sanitizer" in p.stderr or "runtime error:" in p.stderr:
            raise AssertionError("belt %s: sanitizer report:\n%s" % (" ".join(args), p.stderr))
        if check is not None and p.returncode != check:
            raise AssertionError("belt %s: exit %d (expected %d)\nstdout:\n%s\nstderr:\n%s" %
                                 (" ".join(args), p.returncode, check, p.stdout, p.stderr))
        return p

    def start(self, *args):
        return subprocess.Popen([BIN, "-c", self.config] + list(args), cwd=self.dir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read_jsonl(self, name):
        with open(self.path(name)) as f:
            return [json.loads(l) for l in f if l.strip()]

    def rows(self, sql, args=()):
        c = sqlite3.connect(self.db)
        try:
            return c.execute(sql, args).fetchall()
        finally:
            c.close()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
