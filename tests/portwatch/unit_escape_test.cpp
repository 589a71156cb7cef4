// Untrusted text stays text: what a watched process chose (comm, exe,
// cmdline) reaches terminals, logs, CSV and JSON escaped (common/escape.hpp).
#include <gtest/gtest.h>

#include "common/escape.hpp"
#include "portwatch/report.hpp"

namespace {

using portauth::csv_cell;
using portauth::escape_untrusted;
using portauth::valid_utf8;

TEST(PortwatchEscape, ControlsAndInvalidBytesBecomeHexEscapes) {
    EXPECT_EQ(escape_untrusted("nginx"), "nginx");
    EXPECT_EQ(escape_untrusted("a\x1b[2Jb"), "a\\x1b[2Jb") << "ESC must not reach a terminal";
    EXPECT_EQ(escape_untrusted("x\nportwatch: ok"), "x\\x0aportwatch: ok") << "a newline must not forge a log line";
    EXPECT_EQ(escape_untrusted("\x7f"), "\\x7f");
    EXPECT_EQ(escape_untrusted("\xc2\x9b"), "\\xc2\\x9b") << "C1 controls (CSI) are escaped";
    EXPECT_EQ(escape_untrusted("\xff\xfe"), "\\xff\\xfe");
    EXPECT_EQ(escape_untrusted("\xc0\xaf"), "\\xc0\\xaf") << "overlong encodings are not UTF-8";
    EXPECT_EQ(escape_untrusted("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "surrogates are not UTF-8";
    EXPECT_EQ(escape_untrusted("caf\xc3\xa9"), "caf\xc3\xa9") << "valid UTF-8 stays";
    EXPECT_EQ(escape_untrusted("a\\x41"), "a\\\\x41") << "a backslash is doubled, so the escape is unambiguous";
    for (std::string s : {std::string("\x80\x81"), std::string("\xe2\x82"), std::string(1, '\0') + "z"})
        EXPECT_TRUE(valid_utf8(escape_untrusted(s))) << s;
}

TEST(PortwatchEscape, CapCutsAtACharacterBoundary) {
    const std::string s = escape_untrusted(std::string(10, 'a') + "\xc3\xa9\xc3\xa9", 11);
    EXPECT_EQ(s, std::string(10, 'a') + "...");
    EXPECT_EQ(escape_untrusted(std::string(300'000, 'x')).size(), portauth::kMaxUntrustedBytes + 3);
}

TEST(PortwatchEscape, CsvCellsAreQuotedAndFormulasNeutralised) {
    EXPECT_EQ(csv_cell("=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\"");
    EXPECT_EQ(csv_cell("+1"), "'+1");
    EXPECT_EQ(csv_cell("@SUM(A1)"), "'@SUM(A1)");
    EXPECT_EQ(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
    EXPECT_EQ(csv_cell("a\r\nb"), "a\\x0d\\x0ab");
}

TEST(PortwatchEscape, ReportOfHostileRowsIsValidAndNeverAborts) {
    portauth::watch::EventRecord r;
    r.kind = "squat";
    r.proto = "udp";
    r.addr = "0.0.0.0";
    r.port = 5060;
    r.pids = "abc";   // a crafted database
    r.comm = "\xff\x1b]0;owned\x07=x";
    r.cmdline = "a\nportwatch: ok";
    const std::string json = portauth::watch::format_events({r}, portauth::watch::ReportFormat::json);
    EXPECT_TRUE(valid_utf8(json)) << json;
    EXPECT_NE(json.find("\"pid\":null"), std::string::npos) << json;
    EXPECT_EQ(json.find('\x1b'), std::string::npos);
    const std::string table = portauth::watch::format_events({r}, portauth::watch::ReportFormat::table);
    EXPECT_EQ(table.find('\x1b'), std::string::npos);
    EXPECT_EQ(table.find('\x07'), std::string::npos);
    const std::string csv = portauth::watch::format_events({r}, portauth::watch::ReportFormat::csv);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2) << "one header line and one row: a newline cannot forge rows\n" << csv;
    EXPECT_TRUE(valid_utf8(csv));
}

}  // namespace
