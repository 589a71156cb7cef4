#!/usr/bin/env python3
"""docs/json.md against the code and the tools' real --json output.

1. Every command whose --help offers --json (or --format json) has a section
   in docs/json.md, and every section is such a command.
2. The code: the keys each JSON-writing source file writes (JsonWriter
   field("...") / key("...")) are exactly the keys docs/json.md documents for
   the commands that file serves, and no other file writes JSON unmapped.
3. The output: the commands that can run here (status without a policy
   always; check, list, portreserve list and portwatch report as root, on a
   scratch policy tree and record under /tmp) print one line of JSON whose
   keys are documented, of the documented type, in the documented order, with
   every "always" key present.

With --sandbox, instead: as root, on a real kernel, `portauth apply --json`
and `portauth status --json` of an active policy, in the integration tests'
sandbox run by portauth-sandbox (--sandbox-bin) - a scratch child cgroup
(never the root cgroup), a scratch bpffs for the pins, a private network
namespace (so ip_local_reserved_ports is its own) - then unload; exit status
77 (skipped) without root or BTF.

Exit status 0 when everything agrees, 1 otherwise. Nothing is left behind.
Usage: json_keys.py [--sandbox --sandbox-bin BIN] --source DIR --portauth BIN --portreserve BIN [--portwatch BIN]
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile

# The source file that writes each documented command's JSON.
SOURCES = {
    "portauth apply --json": "tools/portauth/cmd_apply.cpp",
    "portauth status --json": "tools/portauth/cmd_status.cpp",
    "portauth check --json SPEC": "tools/portauth/cmd_check.cpp",
    "portauth list --json": "tools/portauth/cmd_edit.cpp",
    "portreserve list --json": "tools/portauth/cmd_edit.cpp",
    "portwatch report --format json": "lib/portwatch/report.cpp",
    "portwatch report --format json --stats": "lib/portwatch/report.cpp",
}

TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "boolean or null": lambda v: v is None or isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "string or null": lambda v: v is None or isinstance(v, str),
    "integer or null": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "array of strings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "array of integers": lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
    "array of objects": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


class Key:
    def __init__(self, path, type_, present):
        self.path, self.type, self.present = path, type_, present
        self.parent, _, self.name = path.rpartition(".")


def parse_doc(path):
    """{command: [Key, ...]} from the '## `command`' sections and their tables."""
    sections, current = {}, None
    heading = re.compile(r"^## `([^`]+)`\s*$")
    row = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = heading.match(line)
            if m:
                current = m.group(1)
                if current in sections:
                    fail(f"docs/json.md has two sections for '{current}'")
                sections[current] = []
                continue
            if line.startswith("## "):
                current = None
                continue
            m = row.match(line)
            if m and current:
                key = Key(m.group(1), m.group(2), m.group(3))
                if key.type not in TYPES:
                    fail(f"docs/json.md, '{current}': key '{key.path}' has type '{key.type}'; "
                         f"use one of: {', '.join(TYPES)}")
                sections[current].append(key)
    return sections


def run(argv, check_status=None, **kwargs):
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, LC_ALL="C"), **kwargs)
    if check_status is not None and r.returncode != check_status:
        fail(f"'{' '.join(argv)}' exited {r.returncode}, expected {check_status}: {r.stderr.strip()}")
    return r


# --- 1. which commands have JSON -------------------------------------------

def subcommands(help_text):
    subs, inside = [], False
    for line in help_text.splitlines():
        if re.match(r"^Subcommands:\s*$", line):
            inside = True
        elif not line.strip():
            inside = False
        elif inside and re.match(r"^\s+[a-z]", line):
            subs.append(line.split()[0])
    return subs


def commands_with_json(tools):
    found = set()
    for name, binary in tools.items():
        for sub in subcommands(run([binary, "--help"]).stdout):
            text = run([binary, sub, "--help"]).stdout
            if re.search(r"^\s*--json\b", text, re.M):
                found.add(f"{name} {sub} --json")
            m = re.search(r"^\s*--format\b.*\{([^}]*)\}", text, re.M)
            if m and "json" in m.group(1).split(","):
                found.add(f"{name} {sub} --format json")
    return found


def check_sections_cover_commands(sections, tools):
    offered = commands_with_json(tools)
    if not offered:
        fail("no command offers --json in its --help; is the help parser broken?")
    documented = {}
    for command in sections:
        m = re.match(r"^(\S+ \S+ (?:--json|--format json))", command)
        if not m:
            fail(f"docs/json.md section '{command}' does not start with 'TOOL SUBCOMMAND --json'")
            continue
        documented[m.group(1)] = command
    for command in sorted(offered - documented.keys()):
        fail(f"'{command}' prints JSON but docs/json.md has no section '## `{command}`'")
    for command in sorted(documented.keys() - offered):
        tool = command.split()[0]
        if tool in tools:   # a tool not built here cannot be asked
            fail(f"docs/json.md documents '{command}', which its --help does not offer")


# --- 2. the code ---------------------------------------------------------------

def keys_in_source(text):
    return set(re.findall(r"\b(?:field|key)\(\s*\"([A-Za-z0-9_]+)\"", text))


def check_source(source_dir, sections):
    by_file = {}
    for command, path in SOURCES.items():
        if command not in sections:
            fail(f"docs/json.md has no section '## `{command}`' (tests/docs/json_keys.py SOURCES names it)")
            continue
        by_file.setdefault(path, set()).update(k.name for k in sections[command])
    for command in sections:
        if command not in SOURCES:
            fail(f"tests/docs/json_keys.py does not know which source file writes '{command}': add it to SOURCES")
    for path, documented in sorted(by_file.items()):
        full = os.path.join(source_dir, path)
        if not os.path.exists(full):
            if path.startswith("lib/portwatch/") and not os.path.isdir(os.path.join(source_dir, "lib/portwatch")):
                continue
            fail(f"{path} does not exist; point SOURCES in tests/docs/json_keys.py at the JSON's new home")
            continue
        with open(full, encoding="utf-8") as f:
            written = keys_in_source(f.read())
        for key in sorted(written - documented):
            fail(f"{path} writes the JSON key '{key}', which docs/json.md does not document")
        for key in sorted(documented - written):
            fail(f"docs/json.md documents the key '{key}', which {path} does not write")
    # Every file that writes JSON is one of the above.
    mapped = set(SOURCES.values())
    for top in ("tools", "lib"):
        for root, _, files in os.walk(os.path.join(source_dir, top)):
            for name in files:
                if not name.endswith((".cpp", ".hpp")):
                    continue
                full = os.path.join(root, name)
                rel = os.path.relpath(full, source_dir)
                if rel in mapped or rel == "lib/common/json.hpp":
                    continue
                with open(full, encoding="utf-8") as f:
                    text = f.read()
                if "JsonWriter" in text and keys_in_source(text):
                    fail(f"{rel} writes JSON that docs/json.md does not document (or SOURCES does not map)")


# --- 3. the output ---------------------------------------------------------------

def flatten(value, path, objects):
    """objects[path] = [dict, ...] for every object at that path ("" the top)."""
    if isinstance(value, dict):
        objects.setdefault(path, []).append(value)
        for k, v in value.items():
            flatten(v, f"{path}.{k}" if path else k, objects)
    elif isinstance(value, list):
        for item in value:
            flatten(item, path + "[]", objects)


def check_output(command, keys, argv, status):
    what = "'" + " ".join([os.path.basename(argv[0])] + argv[1:]) + "'"
    r = run(argv, check_status=status)
    if r.returncode != status:
        return set()
    if r.stderr:
        fail(f"{what} wrote to standard error: {r.stderr.strip()}")
    if not r.stdout.endswith("\n") or r.stdout.count("\n") != 1:
        fail(f"{what} did not print exactly one line: {r.stdout!r}")
    if "\033" in r.stdout:
        fail(f"{what} printed escape codes")
    try:
        value = json.loads(r.stdout)
    except ValueError as e:
        fail(f"{what} printed no valid JSON ({e}): {r.stdout!r}")
        return set()
    is_array = any(k.parent == "[]" or k.parent.startswith("[].") for k in keys)
    if is_array != isinstance(value, list) or (not is_array and not isinstance(value, dict)):
        fail(f"{what} printed a {type(value).__name__}; docs/json.md documents "
             f"{'an array' if is_array else 'an object'}")
        return set()
    objects = {}
    flatten(value, "", objects)
    documented = {k.path: k for k in keys}
    seen = set()
    for parent, dicts in objects.items():
        order = [k.name for k in keys if k.parent == parent]
        for obj in dicts:
            names = list(obj)
            for name in names:
                path = f"{parent}.{name}" if parent else name
                key = documented.get(path)
                if not key:
                    fail(f"{what} prints the key '{path}', which docs/json.md does not document for '{command}'")
                    continue
                seen.add(path)
                if key.type in TYPES and not TYPES[key.type](obj[name]):
                    fail(f"{what}: '{path}' is {json.dumps(obj[name])}, not of the documented type {key.type}")
            for k in keys:
                if k.parent == parent and k.present == "always" and k.name not in obj:
                    fail(f"{what} lacks '{k.path}', which docs/json.md says is always present")
            positions = [order.index(n) for n in names if n in order]
            if positions != sorted(positions):
                fail(f"{what}: keys {names} are not in the order docs/json.md lists them: {order}")
    return seen


def bound_udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def run_outputs(args, sections):
    seen = {c: set() for c in sections}

    def check(command, argv, status=0):
        if command not in sections:
            return   # reported by the section checks
        seen[command] |= check_output(command, sections[command], argv, status)

    with tempfile.TemporaryDirectory(prefix="portauth-json-") as tmp:
        check("portauth status --json", [args.portauth, "status", "--json", "--pin-dir", os.path.join(tmp, "none")], 1)

        if os.geteuid() != 0:
            print("NOTE: not root: check, list and report were not run (a policy tree must be owned by root)")
            return seen

        tree = os.path.join(tmp, "policy")
        for d in ("", "byport", "byaddr", "byuid", "reserve", "reserve/udp", "reserve/tcp"):
            os.mkdir(os.path.join(tree, d)) if d else os.mkdir(tree)
            os.chmod(os.path.join(tree, d), 0o755)
        # Reservations bind root too, so the test's own socket (root's) squats.
        with open(os.path.join(tree, "portauth.conf"), "w") as f:
            f.write("root-exempt = no\n")
        os.chmod(os.path.join(tree, "portauth.conf"), 0o644)

        check("portauth list --json", [args.portauth, "list", "--json", "--policy-dir", tree])
        check("portreserve list --json", [args.portreserve, "list", "--json", "--policy-dir", tree])

        squatter = bound_udp_socket()
        try:
            port = squatter.getsockname()[1]
            run([args.portauth, "allow", "--no-apply", "--policy-dir", tree, "8080", "51000"], check_status=0)
            run([args.portauth, "allow", "--no-apply", "--policy-dir", tree, "8081@127.0.0.1", "51000", "%51002"], check_status=0)
            with open(os.path.join(tree, "byuid", "51003"), "w") as f:
                f.write("127.0.0.1,9000-9009\n")
            os.chmod(os.path.join(tree, "byuid", "51003"), 0o644)
            run([args.portreserve, "add", "--no-apply", "--policy-dir", tree, f"udp/{port}", "51001"], check_status=0)
            run([args.portreserve, "add", "--no-apply", "--policy-dir", tree, "tcp/6000-6009@127.0.0.1", "51001"],
                check_status=0)

            pa, cmd = args.portauth, "portauth check --json SPEC"
            check(cmd, [pa, "check", "--json", "--policy-dir", tree, "--user", "51000", "tcp/8080"], 0)
            check(cmd, [pa, "check", "--json", "--policy-dir", tree, "--user", "51000", f"udp/{port}"], 1)
            check(cmd, [pa, "check", "--json", "--policy-dir", tree, "--user", "51000", "tcp/9"], 1)
            check(cmd, [pa, "check", "--json", "--policy-dir", tree, "--user", "51003", "--group", "51003",
                        "tcp/9001@127.0.0.1"], 0)
            check(cmd, [pa, "check", "--json", "--policy-dir", tree, "--user", "0", "tcp/443@[::1]"], 0)
            check("portauth list --json", [pa, "list", "--json", "--policy-dir", tree])
            check("portreserve list --json", [args.portreserve, "list", "--json", "--policy-dir", tree])

            if args.portwatch:
                db = os.path.join(tmp, "portwatch.db")
                scan = run([args.portwatch, "scan", "--policy-dir", tree, "--db", db])
                if scan.returncode != 1:
                    fail(f"portwatch scan found no squatter on udp/{port} (exit {scan.returncode}): {scan.stderr.strip()}")
                report = "portwatch report --format json"
                check(report, [args.portwatch, "report", "--db", db, "--format", "json"])
                check(report, [args.portwatch, "report", "--db", db, "--format", "json", "--kind", "refused"])
                check(report + " --stats", [args.portwatch, "report", "--db", db, "--format", "json", "--stats"])
        finally:
            squatter.close()
    return seen


# --- the sandbox: apply and an active status -------------------------------------

def sandbox_inner(args, sections):
    """In portauth-sandbox (its private netns, cgroup, bpffs, policy dir and
    state dirs, tests/sandbox/main.cpp): fill the tree, apply, status, apply
    again, unload."""
    pa = args.portauth
    tree = os.environ["PORTAUTH_SANDBOX_POLICY_DIR"]
    pin_dir = os.environ["PORTAUTH_SANDBOX_PIN_DIR"]
    cgroup = os.environ["PORTAUTH_SANDBOX_CGROUP"]
    run([pa, "allow", "--no-apply", "--policy-dir", tree, "8080", "51000"], check_status=0)
    # Inside the local port range: apply adds it to the namespace's own ip_local_reserved_ports.
    run([args.portreserve, "add", "--no-apply", "--policy-dir", tree, "udp/40000", "51001"], check_status=0)
    apply = [pa, "apply", "--json", "--policy-dir", tree, "--cgroup", cgroup, "--pin-dir", pin_dir]
    status = [pa, "status", "--json", "--pin-dir", pin_dir]
    seen = {c: set() for c in sections}

    def check(command, argv, code):
        if command in sections:
            seen[command] |= check_output(command, sections[command], argv, code)

    try:
        check("portauth apply --json", apply, 0)
        check("portauth status --json", status, 0)
        check("portauth apply --json", apply, 0)   # "replaced": true
        check("portauth status --json", status, 0)
    finally:
        run([pa, "unload", "--pin-dir", pin_dir], check_status=0)
    check("portauth status --json", status, 1)
    return seen


def run_sandbox(args, sections):
    if os.geteuid() != 0:
        print("SKIP: needs root (apply loads BPF programs)")
        return None
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        print("SKIP: /sys/kernel/btf/vmlinux is missing")
        return None
    seen = {}
    inner = run([args.sandbox_bin, sys.executable, os.path.abspath(__file__), "--sandbox-inner",
                 "--source", args.source, "--portauth", args.portauth, "--portreserve", args.portreserve])
    for line in inner.stdout.splitlines():
        if not line.startswith("SEEN "):
            print(line)
        if line.startswith("FAIL: "):
            failures.append(line[6:])
        elif line.startswith("SEEN "):
            command, _, keys = line[5:].partition("\t")
            seen.setdefault(command, set()).update(keys.split())
    if inner.returncode not in (0, 1):
        fail(f"the sandboxed run exited {inner.returncode}: {inner.stderr.strip()}")
    return seen


def report(sections, seen, scope):
    for command, keys in sorted(sections.items()):
        if command not in seen:
            continue
        unseen = [k.path for k in keys if k.path not in seen[command]]
        if unseen:
            print(f"note: '{command}': not in any output here (checked against the code only): {', '.join(unseen)}")
    if failures:
        print(f"{len(failures)} problem(s) between docs/json.md, {scope}")
        return 1
    print(f"docs/json.md agrees with {scope}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--portauth", required=True)
    parser.add_argument("--portreserve", required=True)
    parser.add_argument("--portwatch")
    parser.add_argument("--sandbox", action="store_true")
    parser.add_argument("--sandbox-bin", help="portauth-sandbox, for --sandbox")
    parser.add_argument("--sandbox-inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    sections = parse_doc(os.path.join(args.source, "docs/json.md"))
    if not sections:
        fail("docs/json.md has no '## `command`' sections")

    if args.sandbox_inner:
        seen = sandbox_inner(args, sections)
        for command, keys in seen.items():
            if keys:
                print(f"SEEN {command}\t{' '.join(sorted(keys))}")
        return 1 if failures else 0
    if args.sandbox:
        seen = run_sandbox(args, sections)
        if seen is None:
            return 77
        return report(sections, {c: seen.get(c, set()) for c in ("portauth apply --json", "portauth status --json")},
                      "apply's and an active status's output")

    tools = {"portauth": args.portauth, "portreserve": args.portreserve}
    if args.portwatch:
        tools["portwatch"] = args.portwatch
    check_sections_cover_commands(sections, tools)
    check_source(args.source, sections)
    seen = run_outputs(args, sections)
    return report(sections, seen, "the code and the output")


if __name__ == "__main__":
    sys.exit(main())
