// The daemon's parts without privileges: aggregation, the metrics file made
// as if an attacker owned its directory, the hook runner with real processes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "portwatch/aggregate.hpp"
#include "portwatch/hook.hpp"
#include "portwatch/metrics.hpp"
#include "temp_dir.hpp"

using namespace portauth;
using namespace portauth::watch;

namespace {


std::string slurp(const std::string& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

RefusalEvent event(uint64_t time_ms, uint32_t suppressed = 0, const std::string& comm = "flood") {
    RefusalEvent e;
    e.time_ns = time_ms * 1'000'000;
    e.uid = 51001;
    e.pid = 4242;
    e.proto = Proto::udp;
    e.addr = *Address::parse("0.0.0.0");
    e.port = 5060;
    e.comm = comm;
    e.entry = "reserve/udp/5060";
    e.suppressed = suppressed;
    e.window_start_ns = suppressed ? (time_ms - 500) * 1'000'000 : 0;
    return e;
}

}  // namespace

TEST(PortwatchAggregate, OneRowPerKeyCountsSuppressedAndLooksUpOncePerWindow) {
    int process_lookups = 0;
    RefusalLookups l;
    l.process = [&](uint32_t) {
        ++process_lookups;
        return ProcessInfo{4242, "flood", "/usr/bin/flood", "flood --now"};
    };
    l.user = [](uint32_t) { return std::string("51001"); };
    RefusalAggregator a(l, 60'000, 4);
    EXPECT_NE(a.add(event(1000), 1'000'000), nullptr);   // new key: logged
    for (int i = 1; i <= 1000; ++i) EXPECT_EQ(a.add(event(1000 + i, 9), 1'000'000), nullptr);
    EXPECT_EQ(process_lookups, 1);
    auto rows = a.take(1'002'000);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].count, 1u + 1000u * 10u);
    EXPECT_EQ(rows[0].first_seen, 1'000'501);   // the kernel's window start of a folded event
    EXPECT_EQ(rows[0].last_seen, 1'002'000);
    EXPECT_EQ(rows[0].exe, "/usr/bin/flood");
    EXPECT_EQ(rows[0].kind, "refused");
    // Nothing new: nothing to write.
    EXPECT_TRUE(a.take(1'003'000).empty());
    // A new window: one more lookup.
    EXPECT_NE(a.add(event(70'000), 1'000'000), nullptr);
    EXPECT_EQ(process_lookups, 2);
}

TEST(PortwatchAggregate, RenamingAtEveryBindCannotGrowTheTable) {
    RefusalLookups l;
    l.process = [](uint32_t) { return ProcessInfo{}; };
    l.user = [](uint32_t) { return std::string("u"); };
    RefusalAggregator a(l, 60'000, 8);
    for (int i = 0; i < 1000; ++i) a.add(event(1000 + i, 0, "c" + std::to_string(i)), 0);
    EXPECT_LE(a.keys(), 9u);
    EXPECT_EQ(a.folded(), 992u);
    auto rows = a.take(2000);
    uint64_t total = 0;
    for (auto& r : rows) total += r.count;
    EXPECT_EQ(total, 1000u);
}

TEST(PortwatchMetricsFile, PlantedSymlinksAreNeverWrittenThrough) {
    TempDir t;
    const std::string victim = t.path + "/victim";
    { std::ofstream(victim) << "root's file\n"; }
    const std::string path = t.path + "/metrics.prom";
    ASSERT_EQ(symlink(victim.c_str(), (path + ".tmp").c_str()), 0);
    ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
    const mode_t old = umask(077);
    Metrics m;
    m.events_dropped_total = 7;
    m.policy_disabled_entries = 2;
    auto st = write_metrics(path, m);
    umask(old);
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(slurp(victim), "root's file\n");
    struct stat sb {};
    ASSERT_EQ(lstat(path.c_str(), &sb), 0);
    EXPECT_TRUE(S_ISREG(sb.st_mode));
    EXPECT_EQ(sb.st_mode & 07777, 0644u);
    const std::string text = slurp(path);
    EXPECT_NE(text.find("portwatch_refusal_events_dropped_total 7\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_policy_disabled_entries 2\n"), std::string::npos);
    EXPECT_NE(text.find("portwatch_hooks_timed_out_total 0\n"), std::string::npos);
    // No temporary left behind but the planted symlink.
    size_t entries = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(t.path)) ++entries;
    EXPECT_EQ(entries, 3u);
}

// An entry's name comes from the files: whatever bytes it holds, each series
// keeps it inside one label value on one line (the proto and port labels come
// from the policy: unit_metrics_test.cpp).
TEST(PortwatchMetrics, HostileNamesStayInsideTheirLabel) {
    Metrics m;
    m.entry_binds.emplace();
    m.entry_binds->push_back({"byport/80\"} 1\nportwatch_forged 1", "any", "", 3, 4});
    m.squatters_by_entry.push_back({"reserve/udp/5060", "udp", 5060, 2});
    m.policy_generation = 7;
    m.policy_age_seconds = 12.5;
    const std::string text = format_metrics(m);
    EXPECT_EQ(text.find("\nportwatch_forged"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_entry_allowed_binds_total{entry=\"byport/80\\\"} 1\\nportwatch_forged 1\",proto=\"any\",port=\"\"} 3\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("portwatch_squatter_sockets{entry=\"reserve/udp/5060\",proto=\"udp\",port=\"5060\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_policy_generation 7\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_policy_age_seconds 12.500000\n"), std::string::npos) << text;
}

TEST(PortwatchMetrics, HostileEntryNamesStayOneLabelValueOnOneLine) {
    EXPECT_EQ(label_value("reserve/udp/5070"), "reserve/udp/5070");
    EXPECT_EQ(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(label_value(std::string("x\x01\x7f\xff%y", 6)), "x%01%7f%ff%25y");
    EXPECT_EQ(label_value("caf\xc3\xa9"), "caf\xc3\xa9") << "valid UTF-8 stays";
    EXPECT_EQ(label_value("\xc3"), "%c3") << "a cut sequence is bytes";
    Metrics m;
    m.disabled_entries = {{"byport/80\"} 1\nportwatch_forged 1\n#", "owned by uid 52001\r"}};
    m.enforcement_active = true;
    m.policy_fallback = false;
    const std::string text = format_metrics(m);
    size_t lines = 0;
    for (size_t at = text.find("portwatch_policy_entry_disabled{"); at != std::string::npos;
         at = text.find("portwatch_policy_entry_disabled{", at + 1))
        ++lines;
    EXPECT_EQ(lines, 1u) << text;
    EXPECT_NE(text.find("portwatch_policy_entry_disabled{entry=\"byport/80\\\"} 1\\nportwatch_forged 1\\n#\",reason=\"owned by uid 52001%0d\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("\nportwatch_forged"), std::string::npos) << "no forged series";
    EXPECT_NE(text.find("portwatch_enforcement_active 1\n"), std::string::npos);
    EXPECT_NE(text.find("portwatch_policy_fallback 0\n"), std::string::npos);
    Metrics unknown;
    const std::string none = format_metrics(unknown);
    EXPECT_EQ(none.find("portwatch_enforcement_active"), std::string::npos) << "unknown is absent, never 0";
    EXPECT_EQ(none.find("portwatch_policy_fallback"), std::string::npos);
}

TEST(PortwatchHook, RunsAsItsOwnProcessAndCoalescesPerKey) {
    TempDir t;
    const std::string out = t.path + "/out";
    HookRunner h({"echo \"$PORTWATCH_COUNT $PORTWATCH_COMM\" >> " + out + "; grep SigBlk /proc/self/status >> " + out +
                      "; [ \"$(ps -o pgid= $$ | tr -d ' ')\" = $$ ] && echo ownpgid >> " + out + "; cat >> " + out + "; echo said",
                  5000});
    // Blocked like the daemon's.
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, &old);
    EXPECT_TRUE(h.submit("k", {{"PORTWATCH_COMM", "a"}}, 2, "k"));
    EXPECT_TRUE(h.submit("k", {{"PORTWATCH_COMM", "b"}}, 3, "k"));   // coalesced into the pending run
    std::vector<HookFinished> done;
    h.wait_all(done);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, 0);
    EXPECT_EQ(done[0].output, "said\n");
    EXPECT_EQ(slurp(out), "5 b\nSigBlk:\t0000000000000000\nownpgid\n");
    EXPECT_EQ(h.counters().run, 1u);
}

TEST(PortwatchHook, ATimeoutKillsTheWholeGroupEvenWhenSigtermIsIgnored) {
    TempDir t;
    const std::string pidfile = t.path + "/pid";
    HookRunner h({"trap '' TERM; sh -c 'trap \"\" TERM; sleep 30' & echo $! > " + pidfile + "; sleep 30", 1000});
    h.submit("k", {}, 1, "k");
    std::vector<HookFinished> done;
    const auto start = std::chrono::steady_clock::now();
    h.wait_all(done);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_EQ(done.size(), 1u);
    EXPECT_TRUE(done[0].timed_out);
    EXPECT_LT(took, std::chrono::seconds(3));
    EXPECT_EQ(h.counters().timed_out, 1u);
    const pid_t grandchild = static_cast<pid_t>(std::stoi(slurp(pidfile)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Gone (the grandchild was reparented, so it may be a zombie for an instant).
    const std::string status = slurp("/proc/" + std::to_string(grandchild) + "/status");
    EXPECT_TRUE(status.empty() || status.find("State:\tZ") != std::string::npos) << status;
}

TEST(PortwatchHook, TheQueueIsBoundedAndDropsAreCounted) {
    HookRunner h({"true", 1000, 1, 2});
    EXPECT_TRUE(h.submit("a", {}, 1, "a"));
    EXPECT_TRUE(h.submit("b", {}, 1, "b"));
    EXPECT_FALSE(h.submit("c", {}, 1, "c"));
    EXPECT_EQ(h.counters().dropped, 1u);
    std::vector<HookFinished> done;
    h.wait_all(done);
    EXPECT_EQ(done.size(), 2u);
}
