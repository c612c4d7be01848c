"""A real client no one here wrote: the official `openai` npm package (version pinned,
installed by this test into the build tree) calls `belt serve` for a chat, a streamed chat,
a tool call, an error and the model list, and reads the answers. Skips only when node/npm are
missing."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib as g  # noqa: E402

OPENAI_VERSION = "6.49.0"  # pinned; the newest line that still runs on Node 20

g.skip_unless_built()
if not shutil.which("node") or not shutil.which("npm"):
    print("1..0 # SKIP node/npm not installed (scripts/deps.sh installs them)")
    sys.exit(0)

build = os.environ.get("BELT_BUILD_DIR") or os.path.dirname(g.BIN)
cache = os.path.join(build, "npm-openai-" + OPENAI_VERSION)
here = os.path.dirname(os.path.abspath(__file__))
if not os.path.exists(os.path.join(cache, "node_modules", "openai", "package.json")):
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, "package.json"), "w") as f:
        json.dump({"name": "belt-openai-client-test", "private": True, "type": "module"}, f)
    res = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--legacy-peer-deps",
                          "--no-save", "openai@" + OPENAI_VERSION],
                         cwd=cache, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        print("not ok 1 - npm install openai@%s failed:\n%s" % (OPENAI_VERSION, res.stderr[-2000:]))
        sys.exit(1)
shutil.copy(os.path.join(here, "openai_client.mjs"), os.path.join(cache, "openai_client.mjs"))

fake = g.Fake()
belt = g.Belt(f"""
store: {{ path: belt.db }}
models:
  m1: {{ provider: openai, base_url: "{fake.url}", model: "fake+chunks=4", price: {{ input: 1, output: 2 }} }}
  tools: {{ provider: openai, base_url: "{fake.url}", model: "fake+tools" }}
""")
r = g.Runner()
state = {}


@r.case
def openai_node_client_talks_to_belt():
    env = dict(os.environ, BELT_BASE_URL="http://127.0.0.1:%d/v1" % belt.port)
    res = subprocess.run(["node", "openai_client.mjs"], cwd=cache, capture_output=True,
                         text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    state["out"] = json.loads(res.stdout.strip().splitlines()[-1])


@r.case
def chat_answer_is_read():
    o = state["out"]
    assert o["chat"]["content"] == "Hello from the fake upstream.", o
    assert o["chat"]["id"] == "chatcmpl-fake0001" and o["chat"]["finish"] == "stop"
    assert o["chat"]["usage"]["prompt_tokens"] == 9
    assert o["headers"]["model"] == "m1" and float(o["headers"]["cost"]) > 0
    assert len(o["headers"]["trace"]) == 32


@r.case
def streamed_chat_is_read():
    s = state["out"]["stream"]
    assert s["text"] == "Hello from the fake upstream.", s
    assert s["finish"] == "stop" and s["chunks"] >= 6
    assert s["usage"]["completion_tokens"] == 6


@r.case
def tool_call_is_read():
    t = state["out"]["tool"]
    assert t == {"name": "get_weather", "args": {"city": "Paris"}, "finish": "tool_calls"}, t


@r.case
def errors_and_models_are_read():
    o = state["out"]
    assert o["error"]["status"] == 404 and o["error"]["code"] == "model_not_found", o
    assert sorted(o["models"]) == ["m1", "tools"]


def teardown():
    g.check_clean_exit(belt)
    fake.stop()
    belt.cleanup()


r.run(teardown)
