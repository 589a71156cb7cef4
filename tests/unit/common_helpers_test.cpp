// lib/common's small helpers: paths, quoting, trimming, bounded reads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/fd.hpp"
#include "common/parse.hpp"
#include "common/path.hpp"
#include "common/proc_status.hpp"
#include "common/small_file.hpp"
#include "common/text.hpp"

namespace portauth {
namespace {

TEST(CommonPath, JoinPath) {
    EXPECT_EQ(join_path("/etc/portauth", "byport/80"), "/etc/portauth/byport/80");
    EXPECT_EQ(join_path("/", "etc"), "/etc");
    EXPECT_EQ(join_path("/etc/", "portauth"), "/etc/portauth");
    EXPECT_EQ(join_path("", "x"), "/x");
}

TEST(CommonText, QuotedAndTrimmed) {
    EXPECT_EQ(quoted("80x"), "'80x'");
    EXPECT_EQ(quoted(""), "''");
    EXPECT_EQ(trim_blanks(" \t a b \r"), "a b");
    EXPECT_EQ(trim_blanks(" \t\r "), "");
    EXPECT_EQ(trim_blanks("\na\n"), "\na\n") << "a newline is not a blank";
}

class SmallFile : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/portauth-test-XXXXXX";
        const int fd = mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        close(fd);
        path_ = tmpl;
        std::ofstream(path_, std::ios::binary) << std::string(10000, 'x');
    }
    void TearDown() override { unlink(path_.c_str()); }
    std::string path_;
};

TEST_F(SmallFile, ReadsUpToTheLimit) {
    EXPECT_EQ(read_small_file(path_, 100000).value().size(), 10000u);
    EXPECT_EQ(read_small_file(path_, 10000).value().size(), 10000u);
    EXPECT_EQ(read_small_file(path_, 9999).value().size(), 9999u);
    EXPECT_EQ(read_small_file(path_, 0).value(), "");
    const Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_EQ(read_up_to(fd.get(), 4097, path_).value().size(), 4097u);
    EXPECT_EQ(read_up_to(fd.get(), 100000, path_).value().size(), 10000u - 4097u) << "reads on from the fd's offset";
}

TEST_F(SmallFile, ErrorsCarryErrnoAndPath) {
    auto missing = read_small_file(path_ + "-missing", 10);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().err, ENOENT);
    EXPECT_EQ(missing.error().what, "cannot open '" + path_ + "-missing'");
    auto bad = read_up_to(-1, 10, "/x");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().err, EBADF);
    EXPECT_EQ(bad.error().what, "cannot read '/x'");
}

// Hex from /proc files goes through the same kind of checked parser as decimal: no strtoull.
TEST(CommonParse, HexIsCheckedLikeDecimal) {
    EXPECT_EQ(parse_hex("0", UINT64_MAX), 0u);
    EXPECT_EQ(parse_hex("000001ffffffffff", UINT64_MAX), 0x1ffffffffffULL);
    EXPECT_EQ(parse_hex("ffffffffffffffff", UINT64_MAX), UINT64_MAX);
    EXPECT_EQ(parse_hex("1ffffffffffffffff", UINT64_MAX), std::nullopt) << "past 64 bits";
    EXPECT_EQ(parse_hex("100", 0xff), std::nullopt);
    EXPECT_EQ(parse_hex("Ab", 0xff), 0xabu);
    for (const char* bad : {"", "0x10", "-1", " 1", "1 ", "g", "12\n"}) EXPECT_EQ(parse_hex(bad, UINT64_MAX), std::nullopt) << bad;
}

TEST_F(SmallFile, EffectiveCapabilitiesFromAStatusFile) {
    auto write = [&](const std::string& text) { std::ofstream(path_, std::ios::binary | std::ios::trunc) << text; };
    write("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000000400\nCapBnd:\t000001ffffffffff\n");
    EXPECT_EQ(effective_capabilities(path_), 0x400u);
    EXPECT_TRUE(has_effective_capability(10, path_)) << "CAP_NET_BIND_SERVICE";
    EXPECT_FALSE(has_effective_capability(21, path_));
    EXPECT_FALSE(has_effective_capability(64, path_));
    write("CapEff:\t0000000000000400x\n");
    EXPECT_EQ(effective_capabilities(path_), std::nullopt) << "trailing junk is no number";
    write("Name:\tCapEff:\nCapBnd:\tffffffffffffffff\n");
    EXPECT_EQ(effective_capabilities(path_), std::nullopt) << "no CapEff line";
    EXPECT_EQ(effective_capabilities(path_ + "-missing"), std::nullopt);
    EXPECT_TRUE(effective_capabilities().has_value()) << "this process's own";
}

}  // namespace
}  // namespace portauth
