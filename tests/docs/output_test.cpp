// What the tools print for people, from the pure formatters (no engine, no
// privileges): portauth(8) promises aligned columns, colour only where the
// Palette allows it, and a warning line when the engine is active but reports
// a problem. The colour decision itself (terminal, NO_COLOR, TERM) is
// colour_allowed(); docs_test.cpp runs the real binaries on a pipe and on a
// pseudo-terminal.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common/term.hpp"
#include "engine/engine.hpp"

namespace portauth::cli {
namespace {

std::string strip_escapes(const std::string& text) { return std::regex_replace(text, std::regex("\033\\[[0-9;]*m"), ""); }

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

EngineStatus active_status() {
    EngineStatus st;
    st.active = true;
    st.cgroup = "/sys/fs/cgroup";
    st.policy_dir = "/etc/portauth";
    st.applied_at = 1714564800;   // 2024-05-01 12:00:00 UTC
    st.generation = 3;
    st.rule_count = 3;
    st.rules = {{0, "byport/80", 12, 0}, {1, "reserve/udp/5060", 4, 7}, {2, "byaddr/127.0.0.1:8080", 0, 123456}};
    return st;
}

TEST(DocsColourDecision, FollowsNoColorAndTerm) {
    EXPECT_TRUE(colour_allowed(true, "", "xterm-256color"));
    EXPECT_FALSE(colour_allowed(false, "", "xterm-256color")) << "not a terminal";
    EXPECT_FALSE(colour_allowed(true, "1", "xterm")) << "NO_COLOR set";
    EXPECT_FALSE(colour_allowed(true, "0", "xterm")) << "NO_COLOR set, whatever its value";
    EXPECT_FALSE(colour_allowed(true, "", "dumb"));
    EXPECT_FALSE(colour_allowed(true, "", "")) << "TERM unset";
}

TEST(DocsColourDecision, PaddingStaysOutsideTheColour) {
    const Palette on(true), off(false);
    EXPECT_EQ(off.paint("x", Tone::bad), "x");
    EXPECT_EQ(on.paint("x", Tone::plain), "x");
    EXPECT_EQ(on.paint("x", Tone::bad), "\033[31mx\033[0m");
    EXPECT_EQ(on.paint_right("7", 4, Tone::bad), "   \033[31m7\033[0m");
    EXPECT_EQ(on.paint_left("7", 4, Tone::good), "\033[32m7\033[0m   ");
    EXPECT_EQ(off.paint_left("toolong", 4, Tone::good), "toolong");
}

TEST(DocsStatusOutput, ActiveWithAProblemPrintsAWarningLine) {
    EngineStatus st = active_status();
    st.problem = "an earlier apply was interrupted; run portauth apply";
    const auto lines = lines_of(format_status_text(st, "/sys/fs/bpf/portauth", Palette(false)));
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(lines[0], "portauth: active");
    EXPECT_EQ(lines[1], "portauth: warning: an earlier apply was interrupted; run portauth apply");

    const std::string json = format_status_json(st, "/sys/fs/bpf/portauth");
    EXPECT_NE(json.find("\"problem\":\"an earlier apply was interrupted; run portauth apply\""), std::string::npos) << json;
}

TEST(DocsStatusOutput, ActiveWithoutAProblemHasNoWarning) {
    const std::string text = format_status_text(active_status(), "/sys/fs/bpf/portauth", Palette(false));
    EXPECT_EQ(text.find("warning"), std::string::npos) << text;
    EXPECT_EQ(format_status_json(active_status(), "/p").find("problem"), std::string::npos);
}

TEST(DocsStatusOutput, NotActiveSaysWhy) {
    EngineStatus st;
    st.problem = "nothing is pinned at /sys/fs/bpf/portauth";
    EXPECT_EQ(format_status_text(st, "/sys/fs/bpf/portauth", Palette(false)),
              "portauth: not active: nothing is pinned at /sys/fs/bpf/portauth\n");
    EXPECT_EQ(format_status_text(st, "/sys/fs/bpf/portauth", Palette(true)),
              "portauth: \033[31mnot active\033[0m: nothing is pinned at /sys/fs/bpf/portauth\n");
}

// The counters table lines up with and without colour: the colour codes are
// the only difference, and every row's columns end where the header's do.
TEST(DocsStatusOutput, TableIsAlignedWithAndWithoutColour) {
    EngineStatus st = active_status();
    st.problem = "something to look at";
    const std::string plain = format_status_text(st, "/p", Palette(false));
    const std::string coloured = format_status_text(st, "/p", Palette(true));
    EXPECT_NE(coloured, plain);
    EXPECT_EQ(strip_escapes(coloured), plain);
    EXPECT_NE(coloured.find("\033[31m123456\033[0m"), std::string::npos) << "denied binds are not red:\n" << coloured;
    EXPECT_EQ(coloured.find("\033[31m0\033[0m"), std::string::npos) << "a zero count is painted:\n" << coloured;

    const auto lines = lines_of(plain);
    size_t header = 0;
    while (header < lines.size() && lines[header].find("ENTRY") == std::string::npos) ++header;
    ASSERT_LT(header, lines.size()) << plain;
    const std::string& h = lines[header];
    ASSERT_EQ(lines.size(), header + 1 + st.rules.size()) << plain;
    for (size_t i = header + 1; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i].size(), h.size()) << "row '" << lines[i] << "' is not as wide as the header '" << h << "'";
        // ALLOWED's column ends where its header does.
        EXPECT_NE(lines[i][h.find("ALLOWED") + 6], ' ') << lines[i];
    }
}

const Who kWwwData{Who::Kind::user, Who::Via::acl, 33, "www-data"};
const Who kWeb{Who::Kind::group, Who::Via::acl, 33, "web"};
const Who kEveryone{Who::Kind::everyone, Who::Via::other, 0, ""};

TEST(DocsListOutput, AlignedWithAndWithoutColour) {
    const EntryRows rows = {{"byport/80", {kWwwData}}, {"byaddr/127.0.0.1:8080", {}}, {"byport/443", {kWeb, kEveryone}}};
    const std::string plain = format_entries_text(rows, "portauth", "grants", Palette(false));
    const std::string coloured = format_entries_text(rows, "portauth", "grants", Palette(true));
    EXPECT_EQ(strip_escapes(coloured), plain);
    EXPECT_NE(coloured.find("\033[33m(nobody)\033[0m"), std::string::npos) << coloured;
    const auto lines = lines_of(plain);
    ASSERT_EQ(lines.size(), 4u) << plain;
    const size_t who = lines[0].find("WHO");
    for (const auto& line : lines) {
        ASSERT_GT(line.size(), who) << line;
        EXPECT_EQ(line.substr(who - 2, 2), "  ") << line;
        EXPECT_NE(line[who], ' ') << "WHO does not start in the header's column: " << line;
    }
    EXPECT_EQ(format_entries_text({}, "portreserve", "reservations", Palette(true)), "portreserve: no reservations\n");
    EXPECT_EQ(format_entries_json(rows),
              "[{\"entry\":\"byport/80\",\"principals\":[\"www-data (uid 33)\"],\"disabled\":false,\"disabled_reason\":null,"
              "\"who\":[{\"kind\":\"user\",\"id\":33,\"name\":\"www-data\",\"via\":\"acl\"}]},"
              "{\"entry\":\"byaddr/127.0.0.1:8080\",\"principals\":[],\"disabled\":false,\"disabled_reason\":null,\"who\":[]},"
              "{\"entry\":\"byport/443\",\"principals\":[\"%web (gid 33)\",\"everyone\"],\"disabled\":false,"
              "\"disabled_reason\":null,\"who\":[{\"kind\":\"group\",\"id\":33,\"name\":\"web\",\"via\":\"acl\"},"
              "{\"kind\":\"everyone\",\"id\":null,\"name\":null,\"via\":\"other\"}]}]\n");
}

// -rw-r-xr-- _ng.test:_ng.test: the WHO column names the group and the owner it leaves out.
TEST(DocsListOutput, ExclusionsFollowWhoIsLetThrough) {
    const EntryRows rows = {{"byaddr/127.0.0.1,80", {Who{Who::Kind::group, Who::Via::group, 103, "_ng.test"}}, std::nullopt, {Who{Who::Kind::user, Who::Via::owner, 103, "_ng.test"}}},
                            {"byport/443", {kWeb, kEveryone}, std::nullopt, {Who{Who::Kind::user, Who::Via::owner, 0, "root"}, Who{Who::Kind::group, Who::Via::group, 4, "adm"}}}};
    EXPECT_EQ(format_entries_text(rows, "portauth", "grants", Palette(false)),
              "ENTRY                WHO\n"
              "byaddr/127.0.0.1,80  group %_ng.test (gid 103) except owner _ng.test (uid 103)\n"
              "byport/443           %web (gid 33), everyone except owner root (uid 0), group %adm (gid 4)\n");
    EXPECT_EQ(format_entries_json({rows[0]}),
              "[{\"entry\":\"byaddr/127.0.0.1,80\",\"principals\":[\"group %_ng.test (gid 103)\"],"
              "\"excluded\":[\"owner _ng.test (uid 103)\"],\"disabled\":false,\"disabled_reason\":null,"
              "\"who\":[{\"kind\":\"group\",\"id\":103,\"name\":\"_ng.test\",\"via\":\"group\"}],"
              "\"excluded_who\":[{\"kind\":\"user\",\"id\":103,\"name\":\"_ng.test\",\"via\":\"owner\"}]}]\n");
}

// A disabled entry (it fails closed) is not one that lets nobody through by
// the admin's choice: its row says so, what is left of it, and why.
TEST(DocsListOutput, DisabledEntriesSayWhyAndWhatIsLeft) {
    const EntryRows rows = {{"byport/80", {}, "writable by group or other (mode 0570)"},
                            {"byport/81", {}},
                            {"udp/5060", {Who{Who::Kind::user, Who::Via::root, 0, "root"}}, "writable by group or other (mode 0660)"}};
    const std::string plain = format_entries_text(rows, "portauth", "grants", Palette(false));
    const auto lines = lines_of(plain);
    ASSERT_EQ(lines.size(), 4u) << plain;
    EXPECT_EQ(lines[1], "byport/80  nobody (disabled: writable by group or other (mode 0570))");
    EXPECT_EQ(lines[2], "byport/81  (nobody)");
    EXPECT_EQ(lines[3], "udp/5060   root (uid 0) only (disabled: writable by group or other (mode 0660))");
    const std::string coloured = format_entries_text(rows, "portauth", "grants", Palette(true));
    EXPECT_EQ(strip_escapes(coloured), plain);
    EXPECT_NE(coloured.find("\033[31mnobody (disabled: "), std::string::npos) << coloured;
    EXPECT_EQ(format_entries_json({rows[0]}),
              "[{\"entry\":\"byport/80\",\"principals\":[],\"disabled\":true,"
              "\"disabled_reason\":\"writable by group or other (mode 0570)\",\"who\":[]}]\n");
}

}  // namespace
}  // namespace portauth::cli
