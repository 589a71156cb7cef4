// The byuid grammar alone (lib/policy/byuid_grammar.hpp, text_lines.hpp): each
// of authbind's three line forms, and the exact sentence for each refusal.
// tree_test.cpp checks what the loader makes of a byuid file on disk.
#include <gtest/gtest.h>

#include <string>

#include "policy/byuid_grammar.hpp"
#include "policy/limits.hpp"
#include "address_literal.hpp"
#include "refusal_table.hpp"

namespace portauth {
namespace {

using namespace std::string_literals;

TEST(ByuidLine, AcceptedForms) {
    struct Case {
        std::string line;
        const char* low;
        const char* high;
        uint16_t port_min, port_max;
    };
    for (const Case& c : {
             Case{"127.0.0.1,80", "127.0.0.1", "127.0.0.1", 80, 80},
             Case{"  10.0.0.1-10.0.0.9 , 600 - 700  ", "10.0.0.1", "10.0.0.9", 600, 700},
             Case{"10.0.0.0/8,80", "10.0.0.0", "10.255.255.255", 80, 80},
             Case{"10.0.0.0 / 8 , 80", "10.0.0.0", "10.255.255.255", 80, 80},
             Case{"10.0.0.1/32,80", "10.0.0.1", "10.0.0.1", 80, 80},
             Case{"192.168.0.0/16:5000,5010", "192.168.0.0", "192.168.255.255", 5000, 5010},
             Case{"127.0.0.1,1-65535", "127.0.0.1", "127.0.0.1", 1, 65535},
             Case{"127.0.0.1,080", "127.0.0.1", "127.0.0.1", 80, 80},
             Case{"0.0.0.0/0,22", "0.0.0.0", "255.255.255.255", 22, 22},
             Case{"::/0,80", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 80, 80},
             Case{"2001:db8::/32,443", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 443, 443},
             Case{"2620:106:e002:f00f::21,80", "2620:106:e002:f00f::21", "2620:106:e002:f00f::21", 80, 80},
             // IPv4-mapped IPv6 is the IPv4 address; a mapped prefix the IPv4 prefix.
             Case{"::ffff:1.2.3.4,80", "1.2.3.4", "1.2.3.4", 80, 80},
             Case{"::ffff:10.0.0.0/104,443", "10.0.0.0", "10.255.255.255", 443, 443},
             Case{"::ffff:1.2.3.4/128,80", "1.2.3.4", "1.2.3.4", 80, 80},
             Case{"::ffff:0.0.0.0/96,80", "0.0.0.0", "255.255.255.255", 80, 80},
             Case{"::ffff:1.2.3.4-1.2.3.9,80", "1.2.3.4", "1.2.3.9", 80, 80},
             // CRLF: the '\r' is a blank.
             Case{"127.0.0.1,80\r", "127.0.0.1", "127.0.0.1", 80, 80},
             Case{"\t127.0.0.1\t,\t80\t", "127.0.0.1", "127.0.0.1", 80, 80},
         }) {
        auto line = parse_uid_line(c.line);
        ASSERT_TRUE(line) << c.line << ": " << line.error().what;
        EXPECT_EQ(line->addrs.low, addr(c.low)) << c.line;
        EXPECT_EQ(line->addrs.high, addr(c.high)) << c.line;
        EXPECT_EQ(line->port_min, c.port_min) << c.line;
        EXPECT_EQ(line->port_max, c.port_max) << c.line;
        EXPECT_EQ(line->origin.line, 0) << c.line;
        EXPECT_TRUE(line->origin.file.empty()) << c.line;
    }
}

TEST(ByuidLine, Refusals) {
    const std::string not_port = " is not a port number (1-65535)";
    expect_refusals(parse_uid_line, {
             Refusal{"10.0.0.1/8,80", "address 10.0.0.1 has bits set beyond /8"},
             Refusal{"::1/64,80", "address ::1 has bits set beyond /64"},
             Refusal{"::ffff:10.0.0.0/80,80", "address ::ffff:10.0.0.0 has bits set beyond /80"},
             Refusal{"::ffff:10.0.0.0/95,80", "address ::ffff:10.0.0.0 has bits set beyond /95"},
             Refusal{"::ffff:10.0.0.1/104,80", "address ::ffff:10.0.0.1 has bits set beyond /104"},
             Refusal{"10.0.0.0/33,80", "'33' is not a prefix length (0-32)"},
             Refusal{"::/129,80", "'129' is not a prefix length (0-128)"},
             Refusal{"10.0.0.0/x,80", "'x' is not a prefix length (0-32)"},
             Refusal{"10.0.0.0/,80", "'' is not a prefix length (0-32)"},
             Refusal{"10.0.0.0/8,90-80", "port range 90-80 is backwards (write 80-90)"},
             Refusal{"10.0.0.0/8:90,80", "port range 90-80 is backwards (write 80-90)"},
             Refusal{"10.0.0.0/8:80", "the ADDR4/LENGTH:PORT,PORT form needs both ports, e.g. 10.0.0.0/8:80,90"},
             Refusal{"::/0:80,90", "the ADDR/LENGTH:PORT,PORT form is for IPv4 only; write ADDR/LENGTH,PORT-PORT"},
             Refusal{"::1/128:80,90", "the ADDR/LENGTH:PORT,PORT form is for IPv4 only; write ADDR/LENGTH,PORT-PORT"},
             Refusal{"10.0.0.9-10.0.0.1,80", "address range 10.0.0.9-10.0.0.1 is backwards"},
             Refusal{"::2-::1,80", "address range ::2-::1 is backwards"},
             Refusal{"10.0.0.1-::1,80", "address range 10.0.0.1-::1 mixes IPv4 and IPv6"},
             Refusal{"10.0.0.1,0", "port 0 is not a port one can be allowed to bind (ports are 1-65535)"},
             Refusal{"10.0.0.1,0-80", "port 0 is not a port one can be allowed to bind (ports are 1-65535)"},
             Refusal{"10.0.0.1,65536", "'65536'" + not_port},
             Refusal{"10.0.0.1,80x", "'80x'" + not_port},
             Refusal{"10.0.0.1,+80", "'+80'" + not_port},
             Refusal{"10.0.0.1,80-90-100", "'90-100'" + not_port},
             Refusal{"10.0.0.1,80 # comment", "'80 # comment'" + not_port},
             Refusal{"10.0.0.1,99999999999999999999999", "'99999999999999999999999'" + not_port},
             Refusal{"10.0.0.1,", "a port number is missing"},
             Refusal{"10.0.0.1,80-", "a port number is missing"},
             Refusal{",80", "an address is missing"},
             Refusal{"/8,80", "an address is missing"},
             Refusal{"10.0.0.1", "expected ADDR[-ADDR],PORT[-PORT], ADDR/LENGTH,PORT[-PORT] or ADDR4/LENGTH:PORT,PORT"},
             Refusal{"", "expected ADDR[-ADDR],PORT[-PORT], ADDR/LENGTH,PORT[-PORT] or ADDR4/LENGTH:PORT,PORT"},
             Refusal{"10.0.0.1/8", "expected ADDR/LENGTH,PORT[-PORT] or ADDR4/LENGTH:PORT,PORT"},
             Refusal{"[::1],80", "'[::1]': no brackets around addresses in byuid files"},
             Refusal{"host.example,80", "'host.example' is not an IPv4 or IPv6 address"},
             Refusal{"1.2.3.4-1.2.3.5-1.2.3.6,80", "'1.2.3.5-1.2.3.6' is not an IPv4 or IPv6 address"},
             Refusal{"127.000.0.1,80", "'127.000.0.1' is not an IPv4 or IPv6 address"},
             Refusal{"1.2.3.4\0junk,80"s, "'1.2.3.4\0junk' is not an IPv4 or IPv6 address"s},
         });
}

const std::string kFile = "/etc/portauth/byuid/1001";

TEST(ByuidFile, LinesCommentsAndNumbers) {
    auto lines = parse_uid_file("# authbind(1) example\n"
                                "2620:106:e002:f00f::21,80\n"
                                "\n"
                                "   # indented comment\n"
                                "::/0,80\r\n"
                                "127.0.0.1,22",   // no final newline
                                kFile);
    ASSERT_TRUE(lines) << lines.error().what;
    ASSERT_EQ(lines->size(), 3u);
    EXPECT_EQ((*lines)[0].origin.line, 2);
    EXPECT_EQ((*lines)[1].origin.line, 5);
    EXPECT_EQ((*lines)[1].addrs.high, addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_EQ((*lines)[2].origin.line, 6);
    EXPECT_EQ((*lines)[2].port_min, 22);
    for (const auto& line : *lines) EXPECT_TRUE(line.origin.file.empty()) << "the loader names the file";
    EXPECT_TRUE(parse_uid_file("", kFile)->empty());
    EXPECT_TRUE(parse_uid_file("\n\n# x\n", kFile)->empty());
}

TEST(ByuidFile, RefusalsNameFileAndLine) {
    const auto parse = [](const std::string& content) { return parse_uid_file(content, kFile); };
    const std::string too_long = ": line longer than " + std::to_string(kMaxLineLength) + " characters (the limit)";
    expect_refusals(parse, {
             Refusal{"# ok\n127.0.0.1,80\n10.0.0.1,0\n", kFile + ":3: port 0 is not a port one can be allowed to bind (ports are 1-65535)"},
             Refusal{"127.0.0.1,80x\r\n", kFile + ":1: '80x' is not a port number (1-65535)"},
             Refusal{"127.0.0.1,80\n\0\n"s, kFile + ":2: contains a NUL byte"},
             Refusal{"# a comment with a \0 in it\n"s, kFile + ":1: contains a NUL byte"},
             Refusal{"127.0.0.1,80\0\n"s, kFile + ":1: contains a NUL byte"},
             Refusal{"\n" + std::string(kMaxLineLength + 1, ' ') + "\n", kFile + ":2" + too_long},
             Refusal{"#" + std::string(kMaxLineLength, 'x'), kFile + ":1" + too_long},
         });
}

TEST(ByuidFile, Limits) {
    EXPECT_TRUE(parse_uid_file(std::string(kMaxLineLength, ' ') + "\n", kFile));
    EXPECT_TRUE(parse_uid_file("127.0.0.1,80" + std::string(kMaxLineLength - 12, ' '), kFile));
    std::string lines;
    for (size_t i = 0; i < kMaxUidFileLines; ++i) lines += "#\n";
    EXPECT_TRUE(parse_uid_file(lines, kFile));
    auto over = parse_uid_file(lines + "#", kFile);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().what, kFile + ": more than 10000 lines (the limit)");
}

}  // namespace
}  // namespace portauth
