// The metrics file's labelled series without privileges: the kernel's
// per-entry counters with their protocol and port, squatters by entry, the
// enforced generation and its age; hostile entry names cannot break the
// exposition format (and promtool, where installed, agrees); every family has
// HELP and TYPE, counters end in _total; the default path follows Debian's
// node_exporter textfile directory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "engine/engine.hpp"
#include "portwatch/metrics.hpp"
#include "temp_dir.hpp"

using namespace portauth;
using namespace portauth::watch;

namespace {


std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

// The exposition format's grammar for one line, as far as a text file needs it.
const std::regex kSample(R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? [-+]?[0-9.eE+-]+$)re");
const std::regex kComment(R"re(^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$)re");

// Checks every line; returns the families' TYPEs.
std::map<std::string, std::string> check_format(const std::string& text) {
    std::map<std::string, std::string> types;
    std::set<std::string> helped;
    for (const auto& l : lines_of(text)) {
        std::smatch m;
        if (std::regex_match(l, m, kComment)) {
            if (m[1] == "HELP") helped.insert(m[2]);
            else types[m[2]] = m[3];
            continue;
        }
        EXPECT_TRUE(std::regex_match(l, m, kSample)) << "not a sample line: [" << l << "]";
        if (!std::regex_match(l, m, kSample)) continue;
        EXPECT_TRUE(types.count(m[1])) << m[1] << " has no TYPE before its samples";
    }
    for (const auto& [name, type] : types) {
        EXPECT_TRUE(helped.count(name)) << name << " has no HELP";
        if (type == "counter") EXPECT_TRUE(name.size() > 6 && name.substr(name.size() - 6) == "_total") << name;
        else EXPECT_EQ(type, "gauge") << name;
    }
    return types;
}

Policy sample_policy() {
    Policy p;
    Reservation r;
    r.proto = Proto::udp;
    r.port_min = 5060;
    r.port_max = 5060;
    r.origin = {"reserve/udp/5060", 0};
    p.reservations.push_back(r);
    r.proto = Proto::tcp;
    r.port_min = 8000;
    r.port_max = 8010;
    r.origin = {"reserve/tcp/8000-8010", 0};
    p.reservations.push_back(r);
    PortGrant g;
    g.port = 80;
    g.origin = {"byport/80", 0};
    p.port_grants.push_back(g);
    AddrGrant a;
    a.port = 81;
    a.origin = {"byaddr/::1,81", 0};
    p.addr_grants.push_back(a);
    r.proto = Proto::tcp;
    r.port_min = 6000;
    r.port_max = 6099;
    r.origin = {"reserve/tcp/6000-6099@[::1]", 0};
    p.reservations.push_back(r);
    UidGrantFile f;
    f.uid = 51001;
    UidGrantLine line;
    line.port_min = 2000;
    line.port_max = 2100;
    line.origin = {"byuid/51001", 3};
    f.lines.push_back(line);
    p.uid_grants.push_back(f);
    return p;
}

EngineStatus active_status() {
    EngineStatus st;
    st.active = true;
    st.generation = 7;
    st.applied_at = 1'700'000'000;
    st.rules = {{0, "reserve/udp/5060", 12, 3}, {1, "reserve/tcp/8000-8010", 0, 0}, {2, "byport/80", 5, 1}, {3, "byuid/51001:3", 2, 9},
                {4, "reserve/udp/9999", 1, 1}, {5, "byaddr/::1,81", 4, 0}, {6, "reserve/tcp/6000-6099@[::1]", 0, 2}};
    return st;
}

}  // namespace

TEST(PortwatchMetrics, TheKernelsPerEntryCountersCarryEntryProtoAndPort) {
    Metrics m;
    const Policy p = sample_policy();
    add_enforcement(m, active_status(), &p, 1'700'000'090);
    const std::string text = format_metrics(m);
    check_format(text);
    EXPECT_NE(text.find("portwatch_entry_allowed_binds_total{entry=\"reserve/udp/5060\",proto=\"udp\",port=\"5060\"} 12\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_entry_denied_binds_total{entry=\"reserve/udp/5060\",proto=\"udp\",port=\"5060\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_entry_denied_binds_total{entry=\"reserve/tcp/8000-8010\",proto=\"tcp\",port=\"8000-8010\"} 0\n"), std::string::npos)
        << "an entry nobody bound yet is there at 0, so rate() works from the start\n" << text;
    EXPECT_NE(text.find("portwatch_entry_allowed_binds_total{entry=\"byport/80\",proto=\"any\",port=\"80\"} 5\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_entry_denied_binds_total{entry=\"byuid/51001:3\",proto=\"any\",port=\"2000-2100\"} 9\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_entry_denied_binds_total{entry=\"reserve/udp/9999\",proto=\"\",port=\"\"} 1\n"), std::string::npos)
        << "an entry the policy at hand does not name keeps its counters\n" << text;
    EXPECT_NE(text.find("portwatch_entry_allowed_binds_total{entry=\"byaddr/::1,81\",proto=\"any\",port=\"81\"} 4\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_entry_denied_binds_total{entry=\"reserve/tcp/6000-6099@[::1]\",proto=\"tcp\",port=\"6000-6099\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("\nportwatch_enforcement_active 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nportwatch_policy_generation 7\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nportwatch_policy_applied_timestamp_seconds 1700000000\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nportwatch_policy_age_seconds 90.000000\n"), std::string::npos) << text;
}

TEST(PortwatchMetrics, WithoutEnforcementTheFamiliesAreThereEmpty) {
    Metrics m;
    EngineStatus st;
    st.active = false;
    add_enforcement(m, st, nullptr, 1'700'000'000);
    const std::string text = format_metrics(m);
    const auto types = check_format(text);
    EXPECT_NE(text.find("\nportwatch_enforcement_active 0\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("portwatch_policy_generation"), std::string::npos) << text;
    EXPECT_EQ(text.find("portwatch_entry_denied_binds_total{"), std::string::npos) << text;
    EXPECT_EQ(types.at("portwatch_entry_denied_binds_total"), "counter");
    // Engine unreadable (not root): no enforcement series at all, rather than a wrong 0.
    const std::string unknown = format_metrics(Metrics{});
    check_format(unknown);
    EXPECT_EQ(unknown.find("portwatch_enforcement_active"), std::string::npos) << unknown;
    EXPECT_EQ(unknown.find("portwatch_entry_denied_binds_total"), std::string::npos) << unknown;
}

TEST(PortwatchMetrics, SquattersByEntryAndPortAndSuppressedEvents) {
    Metrics m;
    m.squatters = 3;
    m.squatters_by_entry = {{"reserve/udp/5060", "udp", 5060, 2}, {"reserve/tcp/8000-8010", "tcp", 8003, 1}};
    m.log_events_suppressed = {{"bind-refused", 42}};
    const std::string text = format_metrics(m);
    check_format(text);
    EXPECT_NE(text.find("portwatch_squatter_sockets{entry=\"reserve/udp/5060\",proto=\"udp\",port=\"5060\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_squatter_sockets{entry=\"reserve/tcp/8000-8010\",proto=\"tcp\",port=\"8003\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("portwatch_log_events_suppressed_total{event=\"bind-refused\"} 42\n"), std::string::npos) << text;
}

TEST(PortwatchMetrics, HostileEntryNamesCannotBreakTheFile) {
    const std::vector<std::string> hostile = {
        "byport/80\"} 1\nportwatch_forged 1\n#",   // ends the value and the line, forges a sample
        "reserve/udp/5060\\",                       // a trailing backslash would escape the closing quote
        "a\\\"b",                                   // backslash then quote
        std::string("nul\0byte", 8),
        "\x1b[2J\r\t\x7f",                          // terminal and control bytes
        "\xff\xfe\xc0\xaf",                         // not UTF-8 (c0 af: an overlong '/')
        "\xed\xa0\x80\xf4\x90\x80\x80",              // a surrogate, a code point past U+10FFFF
        "100%25",                                   // '%' itself is escaped, so %HH is unambiguous
        "caf\xc3\xa9 \xe2\x82\xac",                 // valid UTF-8 stays
    };
    Metrics m;
    m.entry_binds.emplace();
    for (const auto& h : hostile) {
        m.entry_binds->push_back({h, "udp", "5060", 1, 2});
        m.squatters_by_entry.push_back({h, "udp", 5060, 1});
        m.disabled_entries.push_back({h, h});
    }
    const std::string text = format_metrics(m);
    check_format(text);
    EXPECT_EQ(text.find("\nportwatch_forged"), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"byport/80\\\"} 1\\nportwatch_forged 1\\n#\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"reserve/udp/5060\\\\\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"a\\\\\\\"b\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"nul%00byte\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"%1b[2J%0d%09%7f\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"%ff%fe%c0%af\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"%ed%a0%80%f4%90%80%80\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"100%2525\""), std::string::npos) << text;
    EXPECT_NE(text.find("entry=\"caf\xc3\xa9 \xe2\x82\xac\""), std::string::npos) << text;

    // promtool, where there is one ($PORTAUTH_PROMTOOL, which scripts/ci-prometheus.sh
    // sets to the promtool it unpacks, else /usr/bin/promtool), parses it too.
    const char* env = std::getenv("PORTAUTH_PROMTOOL");
    const std::string promtool = env && *env ? env : "/usr/bin/promtool";
    if (::access(promtool.c_str(), X_OK) != 0)
        GTEST_SKIP() << "no promtool at " << promtool << " (scripts/ci-prometheus.sh runs this with one); the grammar check above ran";
    TempDir d;
    const std::string path = d.path + "/hostile.prom";
    ASSERT_TRUE(write_metrics(path, m));
    const std::string cmd = "'" + promtool + "' check metrics < " + path + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int status = ::pclose(p);
    // Lint problems (exit 3) are fine here; a parse error (exit 1) is not.
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 1) << out;
    EXPECT_EQ(out.find("error while linting"), std::string::npos) << out;
}

TEST(PortwatchMetrics, TheDefaultFileIsInTheTextfileDirectoryOnlyWhenItExists) {
    EXPECT_STREQ(kTextfileDir, "/var/lib/prometheus/node-exporter");
    TempDir d;
    EXPECT_EQ(default_metrics_file(d.path), d.path + "/portwatch.prom");
    EXPECT_EQ(default_metrics_file(d.path + "/missing"), std::nullopt);
    std::ofstream(d.path + "/file") << "x";
    EXPECT_EQ(default_metrics_file(d.path + "/file"), std::nullopt) << "a file is not a directory";
}
