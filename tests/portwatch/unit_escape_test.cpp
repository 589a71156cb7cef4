// Untrusted text stays text: what a watched process chose (comm, exe,
// cmdline) reaches terminals, logs, CSV and JSON escaped (common/escape.hpp).
#include <gtest/gtest.h>

#include "common/escape.hpp"
#include "common/json.hpp"
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
    EXPECT_NE(json.find("\"pid_list\":[]"), std::string::npos) << json;
    EXPECT_EQ(json.find('\x1b'), std::string::npos);
    const std::string table = portauth::watch::format_events({r}, portauth::watch::ReportFormat::table);
    EXPECT_EQ(table.find('\x1b'), std::string::npos);
    EXPECT_EQ(table.find('\x07'), std::string::npos);
    const std::string csv = portauth::watch::format_events({r}, portauth::watch::ReportFormat::csv);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2) << "one header line and one row: a newline cannot forge rows\n" << csv;
    EXPECT_TRUE(valid_utf8(csv));
}

// Issue 14: the typed forms beside the display ones - pids as numbers (what
// is not one, from a crafted database, left out; never an abort), the times
// as seconds since the Epoch beside their ISO form.
TEST(PortwatchReportJson, PidsAsNumbersAndTimesAsEpochSecondsBesideTheStrings) {
    portauth::watch::EventRecord r;
    r.kind = "squat";
    r.pids = "1234,x,,99999999999,1240";
    r.first_seen = 1'714'566'615'250;
    r.last_seen = 1'714'567'515'999;
    const std::string json = portauth::watch::format_events({r}, portauth::watch::ReportFormat::json);
    EXPECT_NE(json.find("\"pid\":1234,\"pids\":\"1234,x,,99999999999,1240\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"pid_list\":[1234,1240]"), std::string::npos) << json;
    EXPECT_NE(json.find("\"first_seen\":\"2024-05-01T12:30:15Z\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"first_seen_epoch\":1714566615,\"last_seen_epoch\":1714567515}"), std::string::npos) << json;
}

// The inverse of the escape, as an admin would apply it: \\ is a backslash,
// \xNN a byte.
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
        } else if (s[i + 1] == '\\') {
            out += '\\';
            ++i;
        } else {
            out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
            i += 3;
        }
    }
    return out;
}

TEST(PortwatchEscape, RoundTripsAndStaysCleanOnRandomBytes) {
    uint32_t seed = 12345;
    auto next = [&] { return seed = seed * 1103515245u + 12345u, static_cast<unsigned char>(seed >> 16); };
    for (int n = 0; n < 3000; ++n) {
        std::string raw(next() % 64, '\0');
        for (auto& c : raw) c = static_cast<char>(n % 3 == 0 ? 0x80 | next() : next());   // also runs of high bytes
        const std::string esc = escape_untrusted(raw);
        ASSERT_TRUE(valid_utf8(esc)) << esc;
        for (unsigned char c : esc) ASSERT_TRUE(c >= 0x20 && c != 0x7f) << "no C0 or DEL: " << esc;
        ASSERT_EQ(esc.find("\xc2\x80"), std::string::npos);
        ASSERT_EQ(unescape(esc), raw) << esc;
    }
    EXPECT_EQ(escape_untrusted("\xc2\x85"), "\\xc2\\x85") << "NEL, a C1 control";
    EXPECT_EQ(escape_untrusted("\xc2\xa0"), "\xc2\xa0") << "U+00A0 is printable";
    EXPECT_EQ(escape_untrusted("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80") << "past U+10FFFF";
    EXPECT_EQ(escape_untrusted("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80") << "an emoji stays";
    EXPECT_EQ(escape_untrusted("\xe2\x82"), "\\xe2\\x82") << "a cut sequence";
    EXPECT_EQ(escape_untrusted("\\x41"), "\\\\x41");
    EXPECT_EQ(unescape(escape_untrusted("\\x41")), "\\x41") << "a literal \\x41 is not taken for A";
}

TEST(PortwatchEscape, CapNeverSplitsAnEscape) {
    EXPECT_EQ(escape_untrusted("\x01\x01\x01", 9), "\\x01\\x01...");
    EXPECT_EQ(escape_untrusted("ab\\", 3), "ab...") << "not half of \\\\";
    EXPECT_EQ(escape_untrusted("abc", 3), "abc") << "no cut, no dots";
    for (size_t cap = 0; cap < 20; ++cap) EXPECT_TRUE(valid_utf8(escape_untrusted("\xc3\xa9\xe2\x82\xac\x1b\xf0\x9f\x98\x80", cap))) << cap;
}

TEST(PortwatchEscape, CsvNeutralisesEveryFormulaStart) {
    for (const char* f : {"=1+1", "+1", "-1", "@A1"}) {
        const std::string cell = csv_cell(f);
        EXPECT_TRUE(cell[0] == '\'' || (cell[0] == '"' && cell[1] == '\'')) << cell;
    }
    EXPECT_EQ(csv_cell("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    EXPECT_EQ(csv_cell("\t=1"), "\\x09=1") << "a tab is escaped, so the formula is not at the start either";
    EXPECT_EQ(csv_cell("nginx"), "nginx");
    EXPECT_EQ(csv_cell("a b"), "\"a b\"");
    EXPECT_EQ(csv_cell(""), "");
}

TEST(PortwatchEscape, JsonWriterEmitsValidUtf8WhateverItIsGiven) {
    auto one = [](std::string_view v) { return portauth::JsonWriter().begin_object().field("k", v).end_object().str(); };
    EXPECT_EQ(one("\xff"), R"({"k":"\\xff"})");
    EXPECT_EQ(one("\xed\xa0\x80"), R"({"k":"\\xed\\xa0\\x80"})") << "a surrogate";
    EXPECT_EQ(one("\xc0\xaf"), R"({"k":"\\xc0\\xaf"})") << "overlong";
    EXPECT_EQ(one("caf\xc3\xa9"), "{\"k\":\"caf\xc3\xa9\"}");
    EXPECT_EQ(one("\x01\n\"\\"), R"({"k":"\u0001\n\"\\"})");
    EXPECT_EQ(one(std::string_view("a\0b", 3)), R"({"k":"a\u0000b"})");
    uint32_t seed = 99;
    auto next = [&] { return seed = seed * 1103515245u + 12345u, static_cast<char>(seed >> 16); };
    for (int n = 0; n < 2000; ++n) {
        std::string raw(static_cast<size_t>(n % 40), '\0');
        for (auto& c : raw) c = next();
        const std::string json = portauth::JsonWriter().begin_object().field("a", raw).field("b", raw).end_object().str();
        ASSERT_TRUE(valid_utf8(json)) << json;
        for (unsigned char c : json) ASSERT_GE(c, 0x20) << json;
    }
}

}  // namespace
