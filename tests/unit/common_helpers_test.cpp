// lib/common's small helpers: paths, quoting, trimming, bounded reads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/fd.hpp"
#include "common/path.hpp"
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

}  // namespace
}  // namespace portauth
