#!/usr/bin/python3
# portauth_policy: make a portauth policy tree say what the data says, with
# portauth's own commands (portauth allow/revoke, portreserve add/release,
# all with --no-apply), and say whether the kernel needs a 'portauth apply'.
#
# The state is read with 'portauth list --json' and 'portreserve list --json'
# (docs/json.md); who an entry lets through comes from their typed "who"
# objects ({kind, id, name, via}), never from the display strings.

import grp
import ipaddress
import json
import os
import pwd
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: portauth_policy
short_description: grants and reservations of a portauth policy tree, as data
description:
  - Reads the tree with C(portauth list --json) and C(portreserve list --json),
    edits it with C(portauth allow/revoke --no-apply) and
    C(portreserve add/release --no-apply), and reports C(apply_needed) when
    the kernel does not enforce the tree as it now is (C(portauth status --json)).
  - A listed grant or reservation is made exactly as listed (principals the
    data does not name are revoked). Entries the data does not list are revoked
    when I(manage_unlisted=revoke) and left alone when I(manage_unlisted=keep).
    byuid files are never touched (no portauth command edits them).
options:
  policy_dir: {type: str, default: /etc/portauth}
  pin_dir: {type: str, default: ''}
  cgroup: {type: str, default: ''}
  grants: {type: list, elements: dict, default: []}
  reservations: {type: list, elements: dict, default: []}
  manage_unlisted: {type: str, choices: [revoke, keep], default: revoke}
  check_enforcement: {type: bool, default: true}
  portauth: {type: str, default: portauth}
  portreserve: {type: str, default: portreserve}
"""

class PolicyError(Exception):
    pass


def parse_who(who, entry):
    """A "who" object of list --json as ('u'|'g', id), 'everyone', or None for the root owner."""
    kind, number, via = who.get("kind"), who.get("id"), who.get("via")
    if kind == "everyone":
        return "everyone"
    if kind not in ("user", "group") or not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise PolicyError("%s: cannot read the principal %r in portauth's list --json" % (entry, who))
    if via == "owner" and kind == "user" and number == 0:
        return None   # a root-owned entry whose owner bits have x: root binds anyway
    return ("u" if kind == "user" else "g", number)


def resolve(principal):
    """A principal as the data gives it (user, uid, %group, %gid) -> ('u'|'g', id), or None if unknown."""
    text = str(principal)
    kind, name = ("g", text[1:]) if text.startswith("%") else ("u", text)
    if name.isdigit():
        return (kind, int(name))
    try:
        return (kind, grp.getgrnam(name).gr_gid if kind == "g" else pwd.getpwnam(name).pw_uid)
    except KeyError:
        return None   # portauth allow names it and fails


def cli_principal(p):
    return ("%%%d" if p[0] == "g" else "%d") % p[1]


def parse_address(text):
    text = str(text).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return ipaddress.ip_address(text)


def spell_address(addr):
    return "[%s]" % addr if addr.version == 6 else str(addr)


def parse_port(value, what):
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise PolicyError("%s: the port must be 1-65535, not %r" % (what, value))
    return int(text)


# --- grants: key (port, address or None), SPEC "PORT[@ADDR]" -------------------

def grant_key_of_entry(entry):
    """byport/[!]PORT, byaddr/[!]ADDR,PORT or byaddr/[!]A.B.C.D:PORT -> key; None for byuid lines."""
    kind, _, name = entry.partition("/")
    name = name.lstrip("!")
    if kind == "byport":
        return (int(name), None)
    if kind == "byaddr":
        addr, sep, port = name.rpartition(",")
        if not sep:
            addr, sep, port = name.rpartition(":")
        return (int(port), parse_address(addr))
    return None


def grant_spec(key):
    port, addr = key
    return str(port) if addr is None else "%d@%s" % (port, spell_address(addr))


def grant_key_of_item(item):
    spec = item.get("spec")
    if spec is not None:
        port, _, addr = str(spec).partition("@")
        return (parse_port(port, "grant %r" % spec), parse_address(addr) if addr else None)
    if "port" not in item:
        raise PolicyError("a grant needs 'port' (and may have 'address'), or 'spec': %r" % (item,))
    addr = item.get("address")
    return (parse_port(item["port"], "grant %r" % (item,)), parse_address(addr) if addr else None)


# --- reservations: key (proto, lo, hi, address or None), SPEC "PROTO/LO[-HI][@ADDR]"

def reservation_key_of_spec(spec, what):
    proto, slash, rest = str(spec).partition("/")
    ports, _, addr = rest.partition("@")
    lo, _, hi = ports.partition("-")
    if not slash or proto not in ("tcp", "udp"):
        raise PolicyError("%s: the protocol must be tcp or udp" % what)
    lo = parse_port(lo, what)
    hi = parse_port(hi, what) if hi else lo
    return (proto, lo, hi, parse_address(addr) if addr else None)


def reservation_spec(key):
    proto, lo, hi, addr = key
    spec = "%s/%d" % (proto, lo) if lo == hi else "%s/%d-%d" % (proto, lo, hi)
    return spec if addr is None else "%s@%s" % (spec, spell_address(addr))


def reservation_key_of_item(item):
    if item.get("spec") is not None:
        return reservation_key_of_spec(item["spec"], "reservation %r" % item["spec"])
    if "proto" not in item or "port" not in item:
        raise PolicyError("a reservation needs 'proto' and 'port' (and may have 'address'), or 'spec': %r" % (item,))
    spec = "%s/%s" % (item["proto"], item["port"])
    if item.get("address"):
        spec += "@" + spell_address(parse_address(item["address"]))
    return reservation_key_of_spec(spec, "reservation %r" % (item,))


# --- the plan -------------------------------------------------------------------

class Tree:
    """What list --json says: key -> {'entry', 'principals': set, 'everyone', 'disabled_reason'}."""

    def __init__(self, rows, key_of_entry, entry_prefix):
        self.entries = {}
        for row in rows:
            entry = row["entry"]
            key = key_of_entry(entry)
            if key is None:
                continue
            if key in self.entries:
                raise PolicyError("%s%s and %s%s are the same grant spelled twice; remove one by hand"
                                  % (entry_prefix, self.entries[key]["entry"], entry_prefix, entry))
            principals = set()
            everyone = False
            if not isinstance(row.get("who"), list):
                raise PolicyError("%s: portauth's list --json has no 'who' (this role needs portauth of its own version)" % entry)
            for who in row["who"]:
                p = parse_who(who, entry)
                if p == "everyone":
                    everyone = True
                elif p is not None:
                    principals.add(p)
            self.entries[key] = {"entry": entry_prefix + entry, "principals": principals,
                                 "everyone": everyone,
                                 "disabled_reason": row.get("disabled_reason") if row.get("disabled") else None}


def desired(items, key_of_item, members_key, what):
    """key -> (state, [(resolved or None, text)]) from the data; later items of the same key win."""
    wanted = {}
    for item in items:
        if not isinstance(item, dict):
            raise PolicyError("each %s is a mapping, not %r" % (what, item))
        state = item.get("state", "present")
        if state not in ("present", "absent"):
            raise PolicyError("%s %r: state is present or absent" % (what, item))
        members = item.get(members_key, [])
        if isinstance(members, str):
            members = [members]
        if state == "present" and not members:
            raise PolicyError("%s %r: '%s' names nobody; use state: absent to remove it" % (what, item, members_key))
        wanted[key_of_item(item)] = (state, [(resolve(m), str(m)) for m in members])
    return wanted


def plan(tree, wanted, manage_unlisted, spec_of, add_cmd, remove_cmd, remove_all_cmd):
    """The commands (argv tails) that make the tree say what `wanted` says."""
    steps = []
    for key in sorted(set(tree.entries) | set(wanted), key=str):
        have = tree.entries.get(key)
        spec = spec_of(key)
        if key in wanted:
            state, members = wanted[key]
        elif manage_unlisted == "revoke":
            state, members = "absent", []
        else:
            continue
        if state == "absent" and have and remove_all_cmd:
            steps.append(remove_all_cmd + [spec])   # the whole entry goes, whatever it says
            continue
        if have and have["disabled_reason"]:
            raise PolicyError("%s: %s" % (have["entry"], have["disabled_reason"]))
        if have and have["everyone"]:
            raise PolicyError("%s lets everyone through (its mode gives 'other' x), which no portauth command"
                              " takes away; chmod o-x it, then run again" % have["entry"])
        current = have["principals"] if have else set()
        if state == "absent":
            if current:
                steps.append(remove_cmd + [spec] + sorted(cli_principal(p) for p in current))
            continue
        missing = [text for resolved, text in members if resolved is None or resolved not in current]
        extra = current - {resolved for resolved, _ in members if resolved is not None}
        if missing:
            steps.append(add_cmd + [spec] + missing)
        if extra:
            steps.append(remove_cmd + [spec] + sorted(cli_principal(p) for p in extra))
    return steps


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy_dir=dict(type="str", default="/etc/portauth"),
            pin_dir=dict(type="str", default=""),
            cgroup=dict(type="str", default=""),
            grants=dict(type="list", elements="dict", default=[]),
            reservations=dict(type="list", elements="dict", default=[]),
            manage_unlisted=dict(type="str", choices=["revoke", "keep"], default="revoke"),
            check_enforcement=dict(type="bool", default=True),
            portauth=dict(type="str", default="portauth"),
            portreserve=dict(type="str", default="portreserve"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    portauth = module.get_bin_path(p["portauth"], required=True)
    portreserve = module.get_bin_path(p["portreserve"], required=True)
    tree_opt = ["--policy-dir", p["policy_dir"]]
    pin_opt = ["--pin-dir", p["pin_dir"]] if p["pin_dir"] else []

    def run(argv):
        rc, out, err = module.run_command(argv)
        return rc, out, err.strip()

    def listed(tool):
        rc, out, err = run([tool, "list", "--json"] + tree_opt)
        if rc != 0:
            module.fail_json(msg=err or "%s list exited %d" % (tool, rc), rc=rc)
        return json.loads(out)

    try:
        grants = Tree(listed(portauth), grant_key_of_entry, "")
        reservations = Tree(listed(portreserve), lambda e: reservation_key_of_spec(e, e), "reserve/")
        steps = plan(grants, desired(p["grants"], grant_key_of_item, "principals", "grant"),
                     p["manage_unlisted"], grant_spec,
                     [portauth, "allow"], [portauth, "revoke"], None)
        steps += plan(reservations, desired(p["reservations"], reservation_key_of_item, "owners", "reservation"),
                      p["manage_unlisted"], reservation_spec,
                      [portreserve, "add"], [portreserve, "release"], [portreserve, "release"])
    except (PolicyError, ValueError) as e:
        module.fail_json(msg=str(e))

    def perform(policy_dir):
        """Runs the steps against policy_dir; fails the module with portauth's message."""
        said = []
        for step in steps:
            # [TOOL, VERB] OPTIONS [SPEC, PRINCIPAL...]: '--' since a SPEC never starts with '-'
            # but a name from the data might.
            argv = step[:2] + ["--no-apply", "--policy-dir", policy_dir] + pin_opt + ["--"] + step[2:]
            rc, out, err = run(argv)
            if rc != 0:
                module.fail_json(msg=err or "%s exited %d" % (" ".join(argv), rc), rc=rc, cmd=argv, done=said)
            said.extend(line for line in (out + "\n" + err).splitlines() if line.strip())
        return said

    # Rehearse on a copy first (cp -a keeps owners, modes and ACLs): a step
    # portauth refuses then fails the play before the real tree is touched,
    # rather than half-way through it. In check mode the rehearsal is all.
    said = []
    if steps:
        scratch = tempfile.mkdtemp(prefix="portauth-rehearsal.")
        try:
            os.chmod(scratch, 0o755)
            copy = os.path.join(scratch, "policy")
            rc, _, err = run(["cp", "-a", "--", p["policy_dir"], copy])
            if rc != 0:
                module.fail_json(msg="cannot copy %s to rehearse the edits: %s" % (p["policy_dir"], err))
            said = perform(copy)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not module.check_mode:
            said = perform(p["policy_dir"])

    # Does the kernel enforce the tree as it is now? (A run whose apply failed
    # leaves the files edited; the next run applies even though nothing changes.)
    apply_needed, why = False, ""
    if p["check_enforcement"]:
        argv = [portauth, "status", "--json"] + pin_opt
        rc, out, err = run(argv)
        try:
            status = json.loads(out) if out.strip() else {}
        except ValueError:
            status = {}
        tree = status.get("tree", {})
        if not status.get("active"):
            apply_needed, why = True, status.get("problem") or err or "enforcement is not active"
        elif status.get("policy_dir") != p["policy_dir"]:
            apply_needed, why = True, "the enforced policy comes from %s" % status.get("policy_dir")
        elif p["cgroup"] and status.get("cgroup") != p["cgroup"]:
            apply_needed, why = True, "the enforced policy is attached to %s" % status.get("cgroup")
        elif steps or tree.get("state") != "unchanged":
            apply_needed, why = True, tree.get("detail") or "the tree is %s" % tree.get("state", "edited")

    module.exit_json(changed=bool(steps) or apply_needed, edits=said, apply_needed=apply_needed,
                     apply_reason=why)


if __name__ == "__main__":
    main()
