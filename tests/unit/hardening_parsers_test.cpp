// The fuzz targets' properties in the normal suite: every file under
// fuzz/regressions/<target>/ (inputs that once broke something) and
// fuzz/corpus/<target>/ (the seeds) goes through the same checks as in
// libFuzzer (fuzz/harness.hpp), built with whatever compiler builds the suite.
// Plus edge cases the fuzzers' properties do not spell out, and reproducers
// for bugs found by hardening that are not fixed yet (skipped, named).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "../../fuzz/harness.hpp"

namespace fs = std::filesystem;
using namespace portauth;

namespace {

// From CMake (tests/CMakeLists.txt), not __FILE__: package builds map source
// paths in __FILE__ to relative ones (-ffile-prefix-map), and the tests may
// run from any directory.
const fs::path kFuzzDir = fs::path(PORTAUTH_SOURCE_DIR) / "fuzz";

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `check` on every file of fuzz/{regressions,corpus}/<target>; returns how many.
template <class Check>
int replay(const std::string& target, Check check) {
    int n = 0;
    EXPECT_TRUE(fs::is_directory(kFuzzDir / "corpus" / target)) << kFuzzDir / "corpus" / target;
    for (const char* kind : {"regressions", "corpus"}) {
        const fs::path dir = kFuzzDir / kind / target;
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) continue;
        for (const auto& f : fs::recursive_directory_iterator(dir)) {
            if (!f.is_regular_file()) continue;
            const std::string input = read_all(f.path());
            EXPECT_EQ(check(input), "") << f.path();
            ++n;
        }
    }
    return n;
}

}  // namespace

TEST(HardeningReplay, Specs) {
    EXPECT_GT(replay("fuzz_specs", [](const std::string& s) { return portauth_fuzz::check_specs(s); }), 0);
}
TEST(HardeningReplay, Byuid) {
    EXPECT_GT(replay("fuzz_byuid", [](const std::string& s) { return portauth_fuzz::check_byuid(s); }), 0);
}
TEST(HardeningReplay, Leafnames) {
    EXPECT_GT(replay("fuzz_leafnames", [](const std::string& s) { return portauth_fuzz::check_leafnames(s); }), 0);
}
TEST(HardeningReplay, Conf) {
    EXPECT_GT(replay("fuzz_conf", [](const std::string& s) { return portauth_fuzz::check_conf(s); }), 0);
}
TEST(HardeningReplay, Ports) {
    EXPECT_GT(replay("fuzz_ports", [](const std::string& s) { return portauth_fuzz::check_ports(s); }), 0);
}
TEST(HardeningReplay, Events) {
    EXPECT_GT(replay("fuzz_events",
                     [](const std::string& s) {
                         return portauth_fuzz::check_events(reinterpret_cast<const uint8_t*>(s.data()), s.size());
                     }),
              0);
}

#ifdef PORTAUTH_HAVE_PORTWATCH
TEST(HardeningReplay, Sockdiag) {
    EXPECT_GT(replay("fuzz_sockdiag",
                     [](const std::string& s) {
                         return portauth_fuzz::check_sockdiag(reinterpret_cast<const uint8_t*>(s.data()), s.size());
                     }),
              0);
}
#endif

TEST(HardeningParsers, PortsZeroAnd65536AreRefusedWithTheirText) {
    for (const char* spec : {"tcp/0", "udp/65536", "tcp/0-80", "tcp/80-65536"}) {
        auto r = parse_reserve_spec(spec);
        ASSERT_FALSE(r) << spec;
        EXPECT_NE(r.error().what.find(spec), std::string::npos) << r.error().what;
    }
    for (const char* spec : {"0", "65536", "0@127.0.0.1", "65536@[::1]"}) {
        auto g = parse_grant_spec(spec);
        ASSERT_FALSE(g) << spec;
        EXPECT_NE(g.error().what.find(spec), std::string::npos) << g.error().what;
    }
    EXPECT_FALSE(parse_bind_spec("tcp/0"));
    EXPECT_FALSE(parse_bind_spec("udp/65536"));
    EXPECT_FALSE(parse_port("0"));
    EXPECT_FALSE(parse_port("65536"));
    EXPECT_FALSE(parse_port("99999999999999999999999"));
    EXPECT_EQ(parse_port("65535"), 65535);
    EXPECT_FALSE(parse_id("4294967295"));
    EXPECT_EQ(parse_id("4294967294"), 4294967294U);
    EXPECT_FALSE(parse_decimal("18446744073709551616", UINT64_MAX));
    EXPECT_EQ(parse_decimal("18446744073709551615", UINT64_MAX), UINT64_MAX);
}

TEST(HardeningParsers, MalformedAddressesAreRefused) {
    for (const char* spec : {"80@1.2.3", "80@1.2.3.256", "80@::1", "80@[::g]", "80@[1.2.3.4]", "80@[::1", "80@::1]", "80@",
                             "80@[]", "80@ 1.2.3.4", "80@1.2.3.4 "})
        EXPECT_FALSE(parse_grant_spec(spec)) << spec;
    EXPECT_FALSE(parse_reserve_spec("tcp/80@0.0.0.0"));
    EXPECT_FALSE(parse_reserve_spec("tcp/80@[::]"));
    EXPECT_FALSE(parse_reserve_spec("tcp/80@[::ffff:0.0.0.0]"));
}

// Regression: Address::parse copied the text into a C string for inet_pton,
// which stops at the first NUL, so "1.2.3.4\0junk" was the address 1.2.3.4.
// Not reachable from argv or file names, but the parsers check every character.
TEST(HardeningParsers, AddressWithEmbeddedNulIsRefused) {
    EXPECT_FALSE(Address::parse(std::string_view("1.2.3.4\0junk", 12)));
    EXPECT_FALSE(parse_grant_spec(std::string_view("80@1.2.3.4\0junk", 15)));
}

// Regression found by fuzz_ports: the overflow test computed (max - digit) / 10,
// which wrapped around when digit > max, so a max below 9 accepted a digit above it.
TEST(HardeningParsers, ParseDecimalWithSmallMax) {
    EXPECT_FALSE(parse_decimal("1", 0));
    EXPECT_FALSE(parse_decimal("9", 8));
    EXPECT_EQ(parse_decimal("8", 8), 8U);
}
