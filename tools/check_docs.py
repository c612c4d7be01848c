#!/usr/bin/env python3
"""Docs are checked against code (STYLE.md 35): every public function and status in belt.h,
every config key in a field table under src/config/, and every CLI command in cli/main.c must
appear in backticks somewhere in docs/*.md. Prints what is missing; exits 1 if anything is."""
import os, re, sys

top = os.environ.get("BELT_SRC_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
docs = ""
for root, _, files in os.walk(os.path.join(top, "docs")):
    for f in files:
        if f.endswith(".md"):
            docs += open(os.path.join(root, f), encoding="utf-8").read() + "\n"
documented = set(re.findall(r"`([^`\n]+)`", docs))
words = set()
for d in documented:
    words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_.-]*", d))

header = open(os.path.join(top, "include", "belt.h"), encoding="utf-8").read()
missing = []
for name in sorted(set(re.findall(r"BELT_API[^;{]*?\b(belt_[a-z0-9_]+)\s*\(", header, re.S))):
    if name not in words:
        missing.append(("function", name))
for name in sorted(set(re.findall(r"\b(BELT_(?:OK|ERR_[A-Z_]+))\s*=", header))):
    if name not in words:
        missing.append(("status", name))

keys = set()
for root, _, files in os.walk(os.path.join(top, "src")):
    for f in files:
        if f.endswith(".c"):
            text = open(os.path.join(root, f), encoding="utf-8").read()
            keys.update(re.findall(r'^\s*\{\s*"([a-z_][a-z0-9_]*)"\s*,\s*BELT_CFG_', text, re.M))
for k in sorted(keys):
    if k not in words:
        missing.append(("config key", k))

cmds = set()
for f in os.listdir(os.path.join(top, "cli")):
    if f.endswith(".c"):
        text = open(os.path.join(top, "cli", f), encoding="utf-8").read()
        cmds.update(re.findall(r'struct cli_command cli_\w+_cmd\s*=\s*\{\s*"([a-z-]+)"', text))
for cmd in sorted(cmds):
    if ("belt " + cmd) not in documented and not any(d.startswith("belt " + cmd) for d in documented):
        missing.append(("command", "belt " + cmd))

for kind, name in missing:
    print(f"undocumented {kind}: {name} (mention it in backticks in docs/*.md)")
sys.exit(1 if missing else 0)
