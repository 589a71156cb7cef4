// portauth: parse the command line, fill the options, run the subcommand.
#include <CLI/CLI.hpp>

#include <cstring>
#include <set>

#include "../cli_help.hpp"
#include "engine/netns.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "policy/tree.hpp"

using namespace portauth::cli;

namespace {

constexpr const char* kUsage =
    "Usage: portauth COMMAND [OPTIONS]\n"
    "   or: portauth [--deep] [--pin-dir DIR] [--] PROGRAM [ARGS...]   (check enforcement, exec PROGRAM)\n";

constexpr const char* kExamples = R"(
Examples:
  portauth apply                            load /etc/portauth into the kernel (root cgroup)
  portauth allow 80 www-data                let www-data bind port 80 (tcp and udp)
  portauth check --user www-data tcp/80     would www-data's bind be allowed, and why
  portauth check --v6only tcp/8080@[::]     the same for an IPV6_V6ONLY socket on the IPv6 wildcard
  portauth status --json                    what is enforced, with per-entry counters
  dropto www-data portauth nginx            run nginx as www-data; portauth checks enforcement

Run 'portauth COMMAND --help' for a command's options and examples.
Exit status: 0 ok/allowed/active, 1 refused/not active, 2 applied with entries disabled, 100 usage, 111 failure,
126/127 (adverb) PROGRAM not executable/not found.)";

// Each subcommand's own examples (CLI11 would repeat the top-level footer).
constexpr const char* kApplyExamples = R"(
Examples:
  portauth apply                            load /etc/portauth, enforced for every process (the cgroup v2 root)
  portauth apply --cgroup /sys/fs/cgroup/system.slice   only for the processes in that cgroup v2 directory
  portauth apply --policy-dir /srv/policy --json        another tree; the report as JSON

Exit status: 0 applied, 2 applied with entries disabled (each is named), 100 usage,
111 refused or failed (the previous policy, or else the last good one, stays enforced).)";

constexpr const char* kStatusExamples = R"(
Examples:
  portauth status                           active or not, where, the entries and their counters
  portauth status --json                    the same, machine-readable

Exit status: 0 active, 1 not active, 100 usage, 111 failure.)";

constexpr const char* kUnloadExamples = R"(
Examples:
  portauth unload                           stop enforcing; the files in /etc/portauth stay

Exit status: 0 unloaded (or nothing was loaded), 100 usage, 111 failure.)";

constexpr const char* kCheckExamples = R"(
Examples:
  portauth check tcp/80                     may this process bind TCP port 80 on every address
  portauth check --user www-data tcp/80     would www-data's bind be allowed, by which entry, and why
  portauth check --user 51000 --group 51000 udp/5060@127.0.0.1   a uid without a passwd entry
  portauth check --v6only tcp/8080@[::]     as an IPV6_V6ONLY socket on the IPv6 wildcard
  portauth check --tree --json tcp/443      from the files as they are now, as JSON

Exit status: 0 allowed, 1 refused, 100 usage, 111 failure.)";

constexpr const char* kAllowExamples = R"(
Examples:
  portauth allow 80 www-data                let www-data bind port 80 (tcp and udp, every address)
  portauth allow 443@127.0.0.1 %web         the group web, on one address only
  portauth allow --no-apply 8080 alice      only write the entry; 'portauth apply' later

Exit status: 0 done, 2 re-applied with entries disabled, 100 usage, 111 failure.)";

constexpr const char* kRevokeExamples = R"(
Examples:
  portauth revoke 80 www-data               www-data may no longer bind port 80
  portauth revoke 443@127.0.0.1 %web

Exit status: 0 done, 2 re-applied with entries disabled, 100 usage, 111 failure.)";

constexpr const char* kListExamples = R"(
Examples:
  portauth list                             every grant, who it lets through and who it leaves out
  portauth list --json

Exit status: 0 listed, 100 usage, 111 failure.)";

// `portauth [--deep] [--pin-dir DIR] [--] PROGRAM [ARGS...]`. Nothing after PROGRAM is parsed.
int adverb(int argc, char** argv) {
    AdverbOptions o;
    o.pin_dir = default_pin_dir();
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a == "--deep") continue;
        if (a == "--pin-dir" && i + 1 < argc) {
            o.pin_dir = argv[++i];
            continue;
        }
        if (a.rfind("--pin-dir=", 0) == 0) {
            o.pin_dir = a.substr(10);
            continue;
        }
        if (a.size() > 1 && a[0] == '-') {
            spdlog::error("unknown option '{}'; see 'portauth --help'", a);
            return kExitUsage;
        }
        break;
    }
    if (i >= argc) {
        spdlog::error("no PROGRAM to run; see 'portauth --help'");
        return kExitUsage;
    }
    o.argv.assign(argv + i, argv + argc);
    return run_adverb(o);
}

}  // namespace

int main(int argc, char** argv) {
    setup_logging("portauth");
    static const std::set<std::string> subcommands = {"apply", "status", "unload", "check", "allow", "revoke", "list"};
    if (argc > 1 && !subcommands.count(argv[1]) && std::strcmp(argv[1], "-h") != 0 &&
        std::strcmp(argv[1], "--help") != 0 && std::strcmp(argv[1], "--version") != 0)
        return adverb(argc, argv);

    CLI::App app{"portauth - ports as operating-system resources: grants and reservations enforced by the kernel.", "portauth"};
    app.formatter(std::make_shared<portauth::cli_help::Formatter>(kUsage));
    app.footer(kExamples);
    app.set_version_flag("--version", std::string("portauth ") + PORTAUTH_VERSION);
    app.require_subcommand(1);

    Common common;
    common.policy_dir = portauth::default_policy_dir();
    common.pin_dir = default_pin_dir();
    auto add_policy_dir = [&](CLI::App* c) {
        c->add_option("--policy-dir", common.policy_dir, "policy tree (default $PORTAUTH_POLICY_DIR or /etc/portauth)");
    };
    auto add_authbind_dir = [&](CLI::App* c) {
        c->add_option("--authbind-dir", common.authbind_dir,
                      "authbind's tree, merged under the policy dir (default $PORTAUTH_AUTHBIND_DIR, or /etc/authbind "
                      "with the default policy dir; \"\" for none)");
    };
    auto add_pin_dir = [&](CLI::App* c) {
        c->add_option("--pin-dir", common.pin_dir, "where the engine is pinned (default $PORTAUTH_PIN_DIR or /sys/fs/bpf/portauth)");
    };
    auto add_json = [&](CLI::App* c) { c->add_flag("--json", common.json, "machine-readable output"); };

    ApplyOptions apply_opts;
    auto* apply = app.add_subcommand("apply", "load the policy into the kernel, or replace the loaded one atomically");
    add_policy_dir(apply);
    add_authbind_dir(apply);
    add_pin_dir(apply);
    add_json(apply);
    apply->footer(kApplyExamples);
    apply->add_option("--cgroup", apply_opts.cgroup, "attach to this cgroup v2 directory (default: the cgroup v2 root)");
    apply->add_flag("--no-fallback", apply_opts.no_fallback,
                    "when the tree is refused and nothing is enforced, enforce nothing (default: the last good policy)");

    auto* status = app.add_subcommand("status", "is enforcement active, where, with which entries and counters");
    add_pin_dir(status);
    add_json(status);
    status->footer(kStatusExamples);

    auto* unload = app.add_subcommand("unload", "detach and unpin the engine; give back ip_local_reserved_ports");
    add_pin_dir(unload);
    unload->footer(kUnloadExamples);

    CheckOptions check_opts;
    auto* check = app.add_subcommand("check", "would a bind be allowed, by which entry, and why");
    add_policy_dir(check);
    add_authbind_dir(check);
    add_json(check);
    add_pin_dir(check);
    check->footer(kCheckExamples);
    check->add_flag("--tree", check_opts.tree, "answer from the files as they are now, not from the enforced policy");
    check->add_option("--user", check_opts.user, "ask for this user (name or uid) instead of the caller");
    check->add_option("--group", check_opts.groups, "the first is the effective gid, the rest supplementary; replaces the user's groups (repeatable)")
        ->allow_extra_args(false);
    check->add_flag("--v6only", check_opts.v6only,
                    "ask as an IPV6_V6ONLY socket: [::] takes only the IPv6 wildcard, not the IPv4 one (IPv6 addresses only)");
    check->add_option("SPEC", check_opts.spec, "PROTO/PORT[@ADDR], e.g. tcp/80 or udp/5060@[::1]")->required();

    EditOptions edit_opts;
    auto add_edit = [&](CLI::App* c) {
        add_policy_dir(c);
        add_authbind_dir(c);
        add_pin_dir(c);
        c->add_flag("--no-apply", edit_opts.no_apply, "only write the files; do not re-apply");
        c->add_option("SPEC", edit_opts.spec, "PORT or PORT@ADDR (IPv6 in brackets)")->required();
        c->add_option("PRINCIPAL", edit_opts.principals, "user, uid, %group or %gid")->required();
    };
    auto* allow = app.add_subcommand("allow", "grant users or groups a port (writes byport/byaddr entries and ACLs)");
    add_edit(allow);
    allow->footer(kAllowExamples);
    auto* revoke = app.add_subcommand("revoke", "take a grant away again");
    add_edit(revoke);
    revoke->footer(kRevokeExamples);

    auto* list = app.add_subcommand("list", "list the grants and who they let through");
    add_policy_dir(list);
    add_authbind_dir(list);
    add_json(list);
    list->footer(kListExamples);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return portauth::cli_help::parse_failure(app, e, kExitUsage);
    }
    // Under 'ip netns exec' (a fresh /sys) the subcommands may join the host's
    // mount namespace to reach its pins and cgroups (engine/netns.hpp); the
    // adverb never does.
    portauth::allow_joining_host_mounts();
    apply_opts.common = check_opts.common = edit_opts.common = common;
    if (*apply) return run_apply(apply_opts);
    if (*status) return run_status(common);
    if (*unload) return run_unload(common);
    if (*check) return run_check(check_opts);
    if (*allow) return run_allow(edit_opts);
    if (*revoke) return run_revoke(edit_opts);
    return run_list(common);
}
