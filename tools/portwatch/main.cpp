// portwatch: parse the command line, fill the options, run the subcommand.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "../cli_help.hpp"
#include "common/term.hpp"
#include "engine/engine.hpp"
#include "policy/tree.hpp"
#include "commands.hpp"
#include "portwatch/actions.hpp"
#include "portwatch/metrics.hpp"
#include "portwatch/store.hpp"

using namespace portauth::watch;

namespace {

constexpr const char* kExamples = R"(
Examples:
  portwatch scan                                one pass; exit 1 when a squatter holds a reserved port
  portwatch scan --action destroy               ... and close the squatting sockets
  portwatch run --interval 10 --metrics-file /run/portwatch/metrics.prom
  portwatch report --since 7d --kind squat      what was seen in the last week
  portwatch report --since 2024-05-01 --format json
  portwatch check                               Nagios/Icinga plugin

Run 'portwatch COMMAND --help' for a command's options and examples.
Exit status: scan 0 clean, 1 squatters, 2 error; check 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN;
report and run 0 ok, 2 error.)";

// "INT:INT in [0 - 3600]", as CLI11 writes the type of an option with a Range check.
template <typename T>
std::string in_range(const char* type, T min, T max) {
    std::ostringstream out;
    out << type << ":" << type << " in [" << min << " - " << max << "]";
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    // Coloured levels only on a terminal and without NO_COLOR (common/term.hpp).
    auto logger = spdlog::stderr_color_mt(
        "portwatch", portauth::colour_allowed_on(2) ? spdlog::color_mode::always : spdlog::color_mode::never);
    logger->set_pattern("portwatch: %^%l%$: %v");
    spdlog::set_default_logger(logger);

    CLI::App app{"portwatch - find and record sockets that squat on reserved ports; audit refused binds.", "portwatch"};
    app.formatter(std::make_shared<portauth::cli_help::Formatter>());
    app.footer(kExamples);
    app.set_version_flag("--version", std::string("portwatch ") + PORTAUTH_VERSION);
    app.require_subcommand(1);

    RunOptions run_opts;
    ScanOptions& scan_opts = run_opts.scan;
    scan_opts.policy_dir = portauth::default_policy_dir();
    run_opts.pin_dir = portauth::default_pin_dir();
    ReportOptions report_opts;
    CheckOptions check_opts;
    check_opts.policy_dir = scan_opts.policy_dir;

    // CLI11 converts types only; the library checks the values, for every caller
    // (settings_from: portwatch/watcher.hpp; report_request_from: portwatch/report.hpp).
    // --help shows what it accepts as CLI11 shows a check, from the library's limits.
    auto add_scan_options = [&](CLI::App* c) {
        c->add_option("--policy-dir", scan_opts.policy_dir, "policy tree (default $PORTAUTH_POLICY_DIR or /etc/portauth)");
        c->add_option("--db", scan_opts.db, std::string("the record (default ") + kDefaultDb + ")");
        c->add_option("--action", scan_opts.action, "on a squatter, at every scan while it persists: log (default), destroy (SOCK_DESTROY the socket), kill (SIGTERM to every holder, then SIGKILL)")
            ->type_name("TEXT:{log,destroy,kill}");
        c->add_option("--grace", scan_opts.grace_seconds, "kill: seconds from SIGTERM to SIGKILL (default 5)")
            ->type_name(in_range("INT", 0, kMaxGraceSeconds));
        c->add_option("--exec", scan_opts.exec, "alert hook, run with /bin/sh -c and PORTWATCH_* variables for each new squat and each refusal key (coalesced, at most 4 at once)");
        c->add_option("--exec-timeout", scan_opts.hook_timeout_seconds, "seconds before the hook is killed with its process group (default 10)")
            ->type_name(in_range("INT", 1, kMaxHookSeconds));
        c->add_option("--retention-days", scan_opts.retention_days, "delete events not seen for this many days (default 90)")
            ->type_name(in_range("INT", 1, kMaxRetentionDays));
        c->add_option("--db-group", scan_opts.db_group, "group (name or gid) that may read the database, e.g. for an unprivileged check");
    };

    auto* scan = app.add_subcommand("scan", "one pass: record squatters (for cron)");
    add_scan_options(scan);
    scan->footer(R"(
Examples:
  portwatch scan                                one pass; exit 1 when a squatter holds a reserved port
  portwatch scan --action destroy               ... and close the squatting sockets
  portwatch scan --exec 'logger -t portwatch "$PORTWATCH_KIND on $PORTWATCH_PORT"'

Exit status: 0 clean, 1 squatters, 2 error.)");

    auto* run = app.add_subcommand("run", "the daemon: scan every interval, record refused binds live, reload on change");
    add_scan_options(run);
    run->add_option("--interval", run_opts.interval_seconds, "seconds between scans (default 30)")
        ->type_name(in_range("FLOAT", kMinIntervalSeconds, static_cast<double>(kMaxIntervalSeconds)));
    run->add_option("--pin-dir", run_opts.pin_dir, "where the engine is pinned (default $PORTAUTH_PIN_DIR or /sys/fs/bpf/portauth)");
    run->add_option("--metrics-file", run_opts.metrics_file,
                    std::string("write Prometheus metrics here after each scan, atomically (default ") + kTextfileDir + "/" +
                        kTextfileName + " when that directory exists, else none; '' for none)");
    run->footer(R"(
Examples:
  portwatch run                                 scan every 30 s, record refused binds as they happen
  portwatch run --interval 10 --metrics-file /run/portwatch/metrics.prom

Exit status: 0 stopped by SIGTERM or SIGINT, 2 error.)");

    auto* report = app.add_subcommand("report", "print the record");
    report->add_option("--db", report_opts.db, std::string("the record (default ") + kDefaultDb + ")");
    report->add_option("--since", report_opts.since, "events last seen at or after WHEN (2024-05-01, 2024-05-01T12:00Z, 1h, 7d)");
    report->add_option("--until", report_opts.until, "events first seen at or before WHEN");
    report->add_option("--kind", report_opts.kind, "squat, refused or grant_miss")->type_name("TEXT:{squat,refused,grant_miss}");
    report->add_option("--format", report_opts.format, "table (default), json or csv")->type_name("TEXT:{table,json,csv}");
    report->add_flag("--stats", report_opts.stats, "print what the matching rows stand for and portwatch run's counters (kernel drops) instead of the rows");
    report->footer(R"(
Examples:
  portwatch report --since 7d --kind squat      what was seen in the last week
  portwatch report --since 2024-05-01 --format json
  portwatch report --stats                      counts, and what portwatch run dropped

Exit status: 0 ok, 2 error.)");

    auto* check = app.add_subcommand("check", "Nagios/Icinga plugin: OK, CRITICAL when squatters hold reserved ports now");
    check->add_option("--policy-dir", check_opts.policy_dir, "policy tree (default $PORTAUTH_POLICY_DIR or /etc/portauth)");
    check->add_option("--db", check_opts.db, std::string("the record, for refused_24h (default ") + kDefaultDb + ")");
    check->footer(R"(
Examples:
  portwatch check                               for Nagios/Icinga: one line of status and perfdata

Exit status (monitoring-plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for usage errors).)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const bool is_check = argc > 1 && std::strcmp(argv[1], "check") == 0;
        return portauth::cli_help::parse_failure(app, e, is_check ? kCheckUnknown : kExitError);
    }
    if (*scan) return run_scan(scan_opts);
    if (*run) {
        if (run->count("--metrics-file") == 0) run_opts.metrics_file = default_metrics_file();
        else if (run_opts.metrics_file && run_opts.metrics_file->empty()) run_opts.metrics_file.reset();
        return run_daemon(run_opts);
    }
    if (*report) return run_report(report_opts);
    return run_check(check_opts);
}
