"""Shared helpers for the gateway integration tests (stdlib only): start the fake upstream
fixture and `belt serve` on ephemeral loopback ports, make HTTP requests, read SSE, check that
belt exits cleanly (exit status 0 under ASan/LSan means no leaks), and run named cases."""
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.path.abspath(os.environ.get("BELT_BIN", "")) if os.environ.get("BELT_BIN") else ""
FIXTURES = os.path.abspath(os.environ.get("BELT_FIXTURE_DIR", "."))
FAKE = os.path.join(FIXTURES, "fake_upstream")


def skip_unless_built():
    if not BIN or not os.path.exists(BIN) or not os.path.exists(FAKE):
        print("1..0 # SKIP belt or fake_upstream not built (BELT_BIN / BELT_FIXTURE_DIR)")
        sys.exit(0)


def _read_port(proc, prefix, timeout=20.0):
    """Read stdout lines until one starting with prefix; return the line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError("process exited early with status %s" % proc.returncode)
            time.sleep(0.01)
            continue
        if line.startswith(prefix):
            return line
    raise RuntimeError("timed out waiting for '%s'" % prefix)


class Fake:
    """The scriptable upstream (tests/fixtures/fake_upstream.c)."""

    def __init__(self):
        self.proc = subprocess.Popen([FAKE, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.port = int(_read_port(self.proc, "PORT").split()[1])
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET" if path != "/_reset" else "POST", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return json.loads(body)

    def requests(self):
        return self.get("/_requests")

    def stats(self):
        return self.get("/_stats")

    def reset(self):
        return self.get("/_reset")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Belt:
    """`belt serve` with a given configuration in a fresh temporary directory.

    API keys are required by default (guard.keys.required); tests of other features run the
    gateway open: unless the configuration has its own `guard:` section (or open=False), a
    `guard: {keys: {required: false}}` section is appended."""

    def __init__(self, config_text, args=(), env=None, open_keys=True, global_args=()):
        self.dir = tempfile.mkdtemp(prefix="belt-gw-")
        self.config = os.path.join(self.dir, "belt.yaml")
        if open_keys and not any(line.startswith("guard:") for line in config_text.splitlines()):
            config_text = config_text.rstrip("\n") + "\nguard:\n  keys:\n    required: false\n"
        with open(self.config, "w") as f:
            f.write(config_text)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.args = list(args)
        self.global_args = list(global_args)
        self.db = os.path.join(self.dir, "belt.db")
        self.stderr = ""
        self._start()

    def _start(self):
        self.proc = subprocess.Popen([BIN, "-c", self.config] + self.global_args +
                                     ["serve", "--listen", "127.0.0.1:0"] + self.args,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=self.env, cwd=self.dir)
        line = _read_port(self.proc, "belt serve: listening")
        self.port = int(line.split("port ")[1].split()[0])

    def restart(self):
        """Stop cleanly (asserting a clean exit) and start again on the same store."""
        check_clean_exit(self)
        self._start()

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, raw

    def chat(self, body, headers=None, timeout=30):
        status, hdrs, raw = self.request("POST", "/v1/chat/completions", body, headers, timeout)
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        return status, hdrs, doc, raw

    def stop(self, timeout=60):
        """SIGTERM, wait, return the exit status; keeps stderr for inspection."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
            raise AssertionError("belt serve did not stop within %ss" % timeout)
        return self.proc.returncode

    def rows(self, sql, args=()):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def sse_events(raw):
    """Split an SSE body into ('data', payload) / ('comment', text) items."""
    out = []
    text = raw.decode() if isinstance(raw, bytes) else raw
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        for line in block.split("\n"):
            if line.startswith("data: "):
                out.append(("data", line[6:]))
            elif line.startswith(":"):
                out.append(("comment", line[1:].strip()))
    return out


def raw_request(port, method, path, body, extra_headers=""):
    """Send a request over a plain socket (for malformed or huge requests)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = body.encode() if isinstance(body, str) else body
    head = ("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (method, path, len(data), extra_headers))
    try:
        s.sendall(head.encode() + data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server refused before reading everything; its answer may still be there
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        chunks.append(b)
        joined = b"".join(chunks)
        if b"\r\n\r\n" in joined:
            head, _, rest = joined.partition(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    if len(rest) >= int(line.split(b":")[1]):
                        s.close()
                        return joined
    s.close()
    return b"".join(chunks)


def wait_for(pred, timeout=5.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Runner:
    """Runs named cases in order, prints TAP, exits 1 if any failed."""

    def __init__(self):
        self.cases = []

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def run(self, teardown=None):
        print("1..%d" % (len(self.cases) + (1 if teardown else 0)))
        failed = 0
        n = 0
        for fn in self.cases:
            n += 1
            t0 = time.time()
            try:
                fn()
                print("ok %d - %s (%.2fs)" % (n, fn.__name__, time.time() - t0))
            except Exception:
                failed += 1
                print("not ok %d - %s" % (n, fn.__name__))
                traceback.print_exc(file=sys.stdout)
        if teardown:
            n += 1
            try:
                teardown()
                print("ok %d - clean_shutdown" % n)
            except Exception:
                failed += 1
                print("not ok %d - clean_shutdown" % n)
                traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        sys.exit(1 if failed else 0)


def check_clean_exit(belt):
    rc = belt.stop()
    if rc != 0 or "Sanitizer" in belt.stderr or "runtime error" in belt.stderr:
        raise AssertionError("belt serve exited %d; stderr:\n%s" % (rc, belt.stderr[-4000:]))
