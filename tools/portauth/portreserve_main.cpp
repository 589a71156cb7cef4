// portreserve: parse the command line, fill the options, run the subcommand.
#include <CLI/CLI.hpp>

#include "../cli_help.hpp"
#include "engine/netns.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "policy/tree.hpp"

using namespace portauth::cli;

int main(int argc, char** argv) {
    setup_logging("portreserve");
    CLI::App app{"portreserve - reserve ports for their owners; nobody else may bind them", "portreserve"};
    app.formatter(std::make_shared<portauth::cli_help::Formatter>());
    app.footer(R"(
Examples:
  portreserve add udp/5060 _sipd              only _sipd may bind UDP 5060, on any address
  portreserve add tcp/6000-6099 %devs         a range for the group devs
  portreserve add tcp/8080@127.0.0.1 alice    one address only
  portreserve release udp/5060                remove the reservation
  portreserve list --json

SPEC is PROTO/PORT[-PORT][@ADDR] (IPv6 in brackets); OWNER is a user, uid, %group or %gid.
Run 'portreserve COMMAND --help' for a command's options and examples.
Exit status: 0 ok, 100 usage, 111 failure.)");
    app.set_version_flag("--version", std::string("portreserve ") + PORTAUTH_VERSION);
    app.require_subcommand(1);

    EditOptions o;
    o.common.policy_dir = portauth::default_policy_dir();
    o.common.pin_dir = default_pin_dir();
    auto add_common = [&](CLI::App* c, bool pin) {
        c->add_option("--policy-dir", o.common.policy_dir, "policy tree (default $PORTAUTH_POLICY_DIR or /etc/portauth)");
        if (pin) {
            c->add_option("--pin-dir", o.common.pin_dir, "the engine to update (default $PORTAUTH_PIN_DIR or /sys/fs/bpf/portauth)");
            c->add_flag("--no-apply", o.no_apply, "only write the files; do not re-apply");
        }
    };
    auto* add = app.add_subcommand("add", "reserve a port or range for owners");
    add_common(add, true);
    add->add_option("SPEC", o.spec, "PROTO/PORT[-PORT][@ADDR]")->required();
    add->add_option("OWNER", o.principals, "user, uid, %group or %gid")->required();
    add->footer(R"(
Examples:
  portreserve add udp/5060 _sipd              only _sipd may bind UDP 5060, on any address
  portreserve add tcp/6000-6099 %devs         a range for the group devs
  portreserve add tcp/8080@127.0.0.1 alice    one address only
  portreserve add --no-apply udp/5060 _sipd   only write the entry; 'portauth apply' later

Exit status: 0 ok, 100 usage, 111 failure.)");
    auto* release = app.add_subcommand("release", "remove owners, or the whole reservation when none are named");
    add_common(release, true);
    release->add_option("SPEC", o.spec, "PROTO/PORT[-PORT][@ADDR]")->required();
    release->add_option("OWNER", o.principals, "user, uid, %group or %gid");
    release->footer(R"(
Examples:
  portreserve release udp/5060                remove the whole reservation
  portreserve release tcp/6000-6099 %devs     take one owner away; the others keep it

Exit status: 0 ok, 100 usage, 111 failure.)");
    auto* list = app.add_subcommand("list", "list reservations and their owners");
    add_common(list, false);
    list->add_flag("--json", o.common.json, "machine-readable output");
    list->footer(R"(
Examples:
  portreserve list                            every reservation, its owners and who it leaves out
  portreserve list --json

Exit status: 0 ok, 100 usage, 111 failure.)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return portauth::cli_help::parse_failure(app, e, kExitUsage);
    }
    // Under 'ip netns exec' (a fresh /sys) the subcommands may join the host's
    // mount namespace to reach its pins and cgroups (engine/netns.hpp); the
    // adverb never does.
    portauth::allow_joining_host_mounts();
    if (*add) return run_reserve_add(o);
    if (*release) return run_reserve_release(o);
    return run_reserve_list(o.common);
}
