// An admin who forgot sudo: each command run by a non-root user says that
// root is needed - never that the kernel lacks a feature, never "no policy
// was loaded; cleaned up" while one is enforced, never a bare "cannot create
// a temporary file" - and changes nothing: the policy stays enforced.
// The test runs the tools as a numeric uid with no capabilities against a
// policy the Sandbox applied as root, in a private network namespace.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "sandbox.hpp"

namespace {

using sandbox::Creds;

const Creds kAdmin{52031, 52031, {}};   // a user, not root
const Creds kOther{52032, 52032, {}};

class Unprivileged : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to set the scene (cgroups, BPF, other uids)";
        sb = std::make_unique<sandbox::Sandbox>();
        sb->entry("reserve/udp/5060", 0, 0, 0400, "u:52033:x,m::x");
        auto r = sb->apply();
        ASSERT_EQ(r.status, 0) << r.err;
        ASSERT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), EACCES);
    }
    sandbox::ToolResult as_admin(const std::vector<std::string>& args, const char* bin = PORTAUTH_BIN) {
        std::vector<std::string> argv = {bin};
        argv.insert(argv.end(), args.begin(), args.end());
        return sandbox::run_as(kAdmin, argv);
    }
    void expect_still_enforced(const std::string& after) {
        EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), EACCES) << "after " << after;
        auto st = sb->portauth({"status", "--json"});
        EXPECT_NE(st.out.find("\"active\":true"), std::string::npos) << after << "\n" << st.out << st.err;
    }
    std::unique_ptr<sandbox::Sandbox> sb;
};

TEST_F(Unprivileged, ApplySaysRootIsNeededNotThatTheKernelLacksAFeature) {
    auto r = as_admin({"apply", "--policy-dir", sb->policy_dir(), "--pin-dir", sb->pin_dir(), "--cgroup", sb->cgroup()});
    EXPECT_EQ(r.status, 111) << r.err;
    EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("CONFIG_CGROUP_BPF"), std::string::npos) << r.err;
    expect_still_enforced("a non-root apply");
}

TEST_F(Unprivileged, UnloadFailsAndNeverClaimsNothingWasLoaded) {
    auto r = as_admin({"unload", "--pin-dir", sb->pin_dir()});
    EXPECT_EQ(r.status, 111) << r.out << r.err;
    EXPECT_EQ(r.out.find("cleaned up"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
    expect_still_enforced("a non-root unload");
}

TEST_F(Unprivileged, AnEditSaysTheDirectoryIsNotWritableAndRootIsNeeded) {
    auto r = as_admin({"add", "udp/5070", "52031", "--policy-dir", sb->policy_dir(), "--pin-dir", sb->pin_dir()}, PORTRESERVE_BIN);
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.err.find("cannot create a temporary file"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not writable by uid 52031"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
    r = as_admin({"allow", "80", "52031", "--policy-dir", sb->policy_dir(), "--pin-dir", sb->pin_dir()});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
    expect_still_enforced("non-root edits");
}

}  // namespace
