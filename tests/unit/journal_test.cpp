// The journal's native protocol as journal_send writes it (common/journal.hpp):
// a value with a newline goes as FIELD\n + 64-bit little-endian length + bytes,
// so a message cannot forge another field; a bad field name is dropped;
// PORTAUTH_JOURNAL_SOCKET set and empty sends nothing; no listener is no error.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/journal.hpp"

using namespace portauth;

namespace {

class JournalSend : public ::testing::Test {
protected:
    void SetUp() override {
        char t[] = "/tmp/portauth-journal-XXXXXX";
        ASSERT_TRUE(::mkdtemp(t));
        dir_ = t;
        path_ = dir_ + "/socket";
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
        ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ::setenv("PORTAUTH_JOURNAL_SOCKET", path_.c_str(), 1);
    }
    void TearDown() override {
        ::unsetenv("PORTAUTH_JOURNAL_SOCKET");
        if (fd_ >= 0) ::close(fd_);
        std::filesystem::remove_all(dir_);
    }
    std::string receive() {
        std::string buf(1 << 17, '\0');
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        return n < 0 ? "" : buf.substr(0, static_cast<size_t>(n));
    }
    std::string dir_, path_;
    int fd_ = -1;
};

TEST_F(JournalSend, ANewlineCannotForgeAField) {
    ASSERT_TRUE(journal_send(Priority::warning, "portauth", "two\nPORTAUTH_EVENT=forged",
                             {{"PORTAUTH_ENTRY", "byport/80"}, {"bad name", "x"}, {"_PID", "1"}}));
    const std::string d = receive();
    const std::string len("\x19\0\0\0\0\0\0\0", 8);   // 25 bytes
    EXPECT_EQ(d.rfind("MESSAGE\n" + len + "two\nPORTAUTH_EVENT=forged\n", 0), 0u) << d;
    EXPECT_NE(d.find("\nPRIORITY=4\n"), std::string::npos) << d;
    EXPECT_NE(d.find("\nSYSLOG_IDENTIFIER=portauth\n"), std::string::npos) << d;
    EXPECT_NE(d.find("\nPORTAUTH_ENTRY=byport/80\n"), std::string::npos) << d;
    EXPECT_EQ(d.find("bad name"), std::string::npos) << "an invalid field name is dropped";
    EXPECT_EQ(d.find("_PID"), std::string::npos) << "trusted fields are the journal's to set";
}

TEST_F(JournalSend, EmptyMeansOffAndNoListenerIsNoError) {
    ::setenv("PORTAUTH_JOURNAL_SOCKET", "", 1);
    EXPECT_FALSE(journal_send(Priority::info, "portauth", "x", {}));
    EXPECT_EQ(receive(), "");
    ::setenv("PORTAUTH_JOURNAL_SOCKET", (dir_ + "/nobody").c_str(), 1);
    EXPECT_FALSE(journal_send(Priority::info, "portauth", "x", {}));
}

TEST(JournalStream, OnlyTheStreamJournalStreamNames) {
    ::unsetenv("JOURNAL_STREAM");
    EXPECT_FALSE(fd_is_journal_stream(2));
    struct stat st {};
    ASSERT_EQ(::fstat(2, &st), 0);
    ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(), 1);
    EXPECT_TRUE(fd_is_journal_stream(2));
    ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1)).c_str(), 1);
    EXPECT_FALSE(fd_is_journal_stream(2));
    ::setenv("JOURNAL_STREAM", "garbage", 1);
    EXPECT_FALSE(fd_is_journal_stream(2));
    ::unsetenv("JOURNAL_STREAM");
}

}  // namespace
