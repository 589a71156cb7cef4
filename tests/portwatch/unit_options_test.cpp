// portwatch's option values, checked in one place (the tool's parser only
// converts types): settings_from for scan and run, report_request_from for
// report. Each refusal names the option and the value; the limits themselves
// are accepted.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "portwatch/options.hpp"
#include "portwatch/report.hpp"
#include "portwatch/watcher.hpp"

using namespace portauth;
using namespace portauth::watch;

namespace {

// The refusal's text; "" when `r` was accepted.
template <typename T>
std::string refusal(const Result<T>& r) {
    return r ? std::string() : r.error().message();
}

ScanOptions scan_with(const std::function<void(ScanOptions&)>& change) {
    ScanOptions o;
    change(o);
    return o;
}

RunOptions run_with(double interval) {
    RunOptions o;
    o.interval_seconds = interval;
    return o;
}

}  // namespace

TEST(PortwatchOptions, DefaultsAreAcceptedAndConverted) {
    auto s = settings_from(ScanOptions{});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->action, Action::log);
    EXPECT_EQ(s->grace_ms, 5000);
    EXPECT_EQ(s->hook_timeout_ms, 10000);
    EXPECT_EQ(s->retention_days, 90);
    EXPECT_FALSE(s->exec);
    EXPECT_FALSE(s->db_group);
    EXPECT_TRUE(settings_from(RunOptions{})) << refusal(settings_from(RunOptions{}));
}

TEST(PortwatchOptions, TheLimitsAreAccepted) {
    for (int grace : {0, kMaxGraceSeconds}) {
        auto s = settings_from(scan_with([&](ScanOptions& o) { o.grace_seconds = grace; }));
        ASSERT_TRUE(s) << s.error().message();
        EXPECT_EQ(s->grace_ms, grace * 1000);
    }
    for (int timeout : {1, kMaxHookSeconds}) {
        auto s = settings_from(scan_with([&](ScanOptions& o) { o.hook_timeout_seconds = timeout; }));
        ASSERT_TRUE(s) << s.error().message();
        EXPECT_EQ(s->hook_timeout_ms, timeout * 1000);
    }
    for (int days : {1, kMaxRetentionDays})
        EXPECT_EQ(refusal(settings_from(scan_with([&](ScanOptions& o) { o.retention_days = days; }))), "") << days;
    for (const char* action : {"log", "destroy", "kill"})
        EXPECT_EQ(refusal(settings_from(scan_with([&](ScanOptions& o) { o.action = action; }))), "") << action;
    for (double interval : {kMinIntervalSeconds, 30.0, static_cast<double>(kMaxIntervalSeconds)})
        EXPECT_EQ(refusal(settings_from(run_with(interval))), "") << interval;
    auto hook = settings_from(scan_with([](ScanOptions& o) { o.exec = "logger x"; }));
    ASSERT_TRUE(hook) << hook.error().message();
    EXPECT_EQ(hook->exec, "logger x");
    auto root = settings_from(scan_with([](ScanOptions& o) { o.db_group = "0"; }));
    ASSERT_TRUE(root) << root.error().message();
    EXPECT_EQ(root->db_group, 0u);
}

TEST(PortwatchOptions, RefusalsNameTheOptionAndTheValue) {
    const struct {
        std::function<void(ScanOptions&)> change;
        std::string message;
    } cases[] = {
        {[](ScanOptions& o) { o.action = "nuke"; }, "--action 'nuke': unknown action (log, destroy or kill)"},
        {[](ScanOptions& o) { o.action = ""; }, "--action '': unknown action (log, destroy or kill)"},
        {[](ScanOptions& o) { o.grace_seconds = -1; }, "--grace -1: out of range 0-3600"},
        {[](ScanOptions& o) { o.grace_seconds = 3601; }, "--grace 3601: out of range 0-3600"},
        {[](ScanOptions& o) { o.hook_timeout_seconds = 0; }, "--exec-timeout 0: out of range 1-3600"},
        {[](ScanOptions& o) { o.hook_timeout_seconds = 3601; }, "--exec-timeout 3601: out of range 1-3600"},
        {[](ScanOptions& o) { o.exec = ""; }, "--exec: empty command"},
        {[](ScanOptions& o) { o.retention_days = 0; }, "--retention-days 0: out of range 1-36500"},
        {[](ScanOptions& o) { o.retention_days = 36501; }, "--retention-days 36501: out of range 1-36500"},
    };
    for (const auto& c : cases) {
        const ScanOptions o = scan_with(c.change);
        EXPECT_EQ(refusal(settings_from(o)), c.message);
        RunOptions run;
        run.scan = o;
        EXPECT_EQ(refusal(settings_from(run)), c.message) << "run refuses what scan refuses";
    }
    const std::string group = refusal(settings_from(scan_with([](ScanOptions& o) { o.db_group = "portauth-no-such-group"; })));
    EXPECT_EQ(group.rfind("--db-group: ", 0), 0u) << group;
    EXPECT_NE(group.find("portauth-no-such-group"), std::string::npos) << group;
}

TEST(PortwatchOptions, IntervalOutOfRangeIsRefused) {
    EXPECT_EQ(refusal(settings_from(run_with(0.05))), "--interval 0.05: out of range 0.1-86400");
    EXPECT_EQ(refusal(settings_from(run_with(0))), "--interval 0: out of range 0.1-86400");
    EXPECT_EQ(refusal(settings_from(run_with(-1))), "--interval -1: out of range 0.1-86400");
    EXPECT_EQ(refusal(settings_from(run_with(86400.5))), "--interval 86400.5: out of range 0.1-86400");
    EXPECT_EQ(refusal(settings_from(run_with(NAN))), "--interval nan: out of range 0.1-86400");
    EXPECT_EQ(refusal(settings_from(run_with(INFINITY))), "--interval inf: out of range 0.1-86400");
    // scan's settings are checked first: the first refusal is the one reported.
    RunOptions both = run_with(0);
    both.scan.grace_seconds = -1;
    EXPECT_EQ(refusal(settings_from(both)), "--grace -1: out of range 0-3600");
}

TEST(PortwatchOptions, ReportRequest) {
    const int64_t now = 1'700'000'000'000;
    ReportOptions o;
    auto plain = report_request_from(o, now);
    ASSERT_TRUE(plain) << plain.error().message();
    EXPECT_EQ(plain->format, ReportFormat::table);
    EXPECT_FALSE(plain->query.kind || plain->query.since || plain->query.until);

    o.format = "csv";
    o.kind = "grant_miss";
    o.since = "1h";
    o.until = "1970-01-02";
    auto full = report_request_from(o, now);
    ASSERT_TRUE(full) << full.error().message();
    EXPECT_EQ(full->format, ReportFormat::csv);
    EXPECT_EQ(full->query.kind, "grant_miss");
    EXPECT_EQ(full->query.since, now - 3'600'000);
    EXPECT_EQ(full->query.until, 86'400'000);
    for (const char* kind : {"squat", "refused"}) {
        o.kind = kind;
        EXPECT_EQ(refusal(report_request_from(o, now)), "") << kind;
    }
}

TEST(PortwatchOptions, ReportRefusalsNameTheOptionAndTheValue) {
    const int64_t now = 1'700'000'000'000;
    const std::string not_a_time = "': not a time (write 2024-05-01, 2024-05-01T12:30[:15][Z], or 90s, 30m, 1h, 7d, 2w)";
    const struct {
        std::function<void(ReportOptions&)> change;
        std::string message;
    } cases[] = {
        {[](ReportOptions& o) { o.format = "xml"; }, "--format 'xml': unknown format (table, json or csv)"},
        {[](ReportOptions& o) { o.kind = "squats"; }, "--kind 'squats': unknown kind (squat, refused or grant_miss)"},
        {[](ReportOptions& o) { o.kind = ""; }, "--kind '': unknown kind (squat, refused or grant_miss)"},
        {[](ReportOptions& o) { o.since = "yesterday"; }, "--since 'yesterday" + not_a_time},
        {[](ReportOptions& o) { o.until = "2024-02-30"; }, "--until '2024-02-30" + not_a_time},
    };
    for (const auto& c : cases) {
        ReportOptions o;
        c.change(o);
        EXPECT_EQ(refusal(report_request_from(o, now)), c.message);
    }
}
