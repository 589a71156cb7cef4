// A throw-away policy tree under /tmp for the Spec/Tree/Edit tests. The
// tree's root is <mkdtemp dir>/policy; everything is removed in the
// destructor, also when a test fails. Run unprivileged, the tests pass the
// caller's own uid/gid as TreeOptions (the loader then trusts them the way it
// trusts root); tests that chown files to other ids need root and skip.
#pragma once

#include <acl/libacl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "policy/tree.hpp"

namespace portauth::testing {

#define PA_NEEDS_ROOT()                                                                        \
    do {                                                                                       \
        if (geteuid() != 0) GTEST_SKIP() << "needs root: chowns files to uids 51000-59999"; \
    } while (0)

class PolicyTreeTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/portauth-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
        tmp_ = tmpl;
        root_ = tmp_ + "/policy";
        ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
        ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
    }
    void TearDown() override {
        std::error_code ec;
        if (!tmp_.empty()) std::filesystem::remove_all(tmp_, ec);
    }

    const std::string& root() const { return root_; }
    const std::string& tmp() const { return tmp_; }
    std::string path(const std::string& rel) const { return root_ + "/" + rel; }

    static TreeOptions options() { return TreeOptions{static_cast<uint32_t>(geteuid()), static_cast<uint32_t>(getegid())}; }

    Result<Policy> load() const { return load_policy(root_, options()); }

    void mkdir(const std::string& rel, mode_t mode = 0755) const {
        ASSERT_EQ(::mkdir(path(rel).c_str(), mode), 0) << rel << ": " << std::strerror(errno);
        ASSERT_EQ(::chmod(path(rel).c_str(), mode), 0);
    }

    // Creates the file (and missing parent dirs, 0755) with the given mode.
    void write(const std::string& rel, const std::string& content = "", mode_t mode = 0644) const {
        const std::filesystem::path p = path(rel);
        make_parents(rel);
        {
            std::ofstream out(p, std::ios::binary | std::ios::trunc);
            ASSERT_TRUE(out) << rel;
            out << content;
        }
        ASSERT_EQ(::chmod(p.c_str(), mode), 0) << rel;
    }

    void make_parents(const std::string& rel) const {
        std::string sofar;
        for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
            sofar = rel.substr(0, slash);
            struct stat st;
            if (::lstat(path(sofar).c_str(), &st) != 0) {
                ASSERT_EQ(::mkdir(path(sofar).c_str(), 0755), 0) << sofar;
                ASSERT_EQ(::chmod(path(sofar).c_str(), 0755), 0);
            }
        }
    }

    // setfacl --set TEXT, e.g. "u::r--,u:51001:--x,g::---,m::---,o::---".
    void set_acl(const std::string& rel, const std::string& text) const {
        acl_t acl = acl_from_text(text.c_str());
        ASSERT_NE(acl, nullptr) << text;
        const int rc = acl_set_file(path(rel).c_str(), ACL_TYPE_ACCESS, acl);
        const int e = errno;
        acl_free(acl);
        ASSERT_EQ(rc, 0) << rel << ": " << std::strerror(e);
    }

    void chown(const std::string& rel, uid_t uid, gid_t gid) const {
        ASSERT_EQ(::lchown(rel.empty() ? root_.c_str() : path(rel).c_str(), uid, gid), 0) << rel << ": " << std::strerror(errno);
    }

    bool exists(const std::string& rel) const {
        struct stat st;
        return ::lstat(path(rel).c_str(), &st) == 0;
    }

    mode_t mode_of(const std::string& rel) const {
        struct stat st {};
        ::lstat(path(rel).c_str(), &st);
        return st.st_mode & 07777;
    }

    // The load must fail with a message containing every one of `parts`.
    template <class... Parts>
    void expect_load_error(const Parts&... parts) const {
        auto policy = load();
        ASSERT_FALSE(policy.ok()) << "loaded a tree that should have been refused";
        const std::string msg = policy.error().message();
        for (const std::string& part : {std::string(parts)...})
            EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nmissing: " << part;
    }

private:
    std::string tmp_, root_;
};

}  // namespace portauth::testing
