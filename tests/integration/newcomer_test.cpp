// What a newcomer meets first (issue 15): check names the permission class
// that decided, list who an entry leaves out, root's exemption said once,
// apply on a directory that is not cgroup v2, unload takes down the bpffs
// apply mounted. Each in the sandbox, in a private network namespace.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <regex>
#include <string>
#include <utility>

#include "sandbox.hpp"

namespace {

class Newcomer : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF, mounts)";
        sb = std::make_unique<sandbox::Sandbox>();
    }
    std::unique_ptr<sandbox::Sandbox> sb;
};

// Takes down whatever is mounted on `dir`, and `dir`, however the test ends.
struct MountGuard {
    std::string dir;
    explicit MountGuard(std::string d) : dir(std::move(d)) {}
    ~MountGuard() {
        while (::umount2(dir.c_str(), MNT_DETACH) == 0) {
        }
        ::rmdir(dir.c_str());
    }
    MountGuard(const MountGuard&) = delete;
    MountGuard& operator=(const MountGuard&) = delete;
};

bool is_mount_point_in_mountinfo(const std::string& dir) {
    const std::string info = sandbox::slurp("/proc/self/mountinfo");
    return info.find(" " + dir + " ") != std::string::npos;
}

// -rw-r-xr-- U:U, authbind's convention, refuses U: the owner class decides.
TEST_F(Newcomer, CheckNamesTheOwnerClassThatDecided) {
    sb->entry("byaddr/127.0.0.1,80", 51003, 51003, 0654);
    const auto r = sb->portauth({"check", "--tree", "--user", "51003", "tcp/80@127.0.0.1"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(r.out,
              "tcp/80@127.0.0.1 for uid 51003, gid 51003: REFUSED\n"
              "  decided by: grant (byaddr/127.0.0.1,80)\n"
              "  why:        byaddr/127.0.0.1,80 exists but does not grant it to uid 51003 (uid 51003 owns the entry, so the "
              "owner class decides: no x; the group class (gid 51003) would have granted); the port is privileged and the "
              "process lacks CAP_NET_BIND_SERVICE\n"
              "  from:       the tree at " + sb->policy_dir() + "\n");
    const auto member = sb->portauth({"check", "--tree", "--user", "51004", "--group", "51003", "tcp/80@127.0.0.1"});
    EXPECT_EQ(member.status, 0) << member.out << member.err;

    const auto list = sb->portauth({"list"});
    EXPECT_EQ(list.status, 0) << list.err;
    EXPECT_EQ(list.out,
              "ENTRY                WHO\n"
              "byaddr/127.0.0.1,80  group gid 51003 except owner uid 51003\n");
    const auto json = sb->portauth({"list", "--json"});
    EXPECT_EQ(json.out,
              "[{\"entry\":\"byaddr/127.0.0.1,80\",\"tree\":\"" + sb->policy_dir() + "\",\"principals\":[\"group gid 51003\"],\"excluded\":[\"owner uid 51003\"],"
              "\"disabled\":false,\"disabled_reason\":null,\"who\":[{\"kind\":\"group\",\"id\":51003,\"name\":null,\"via\":\"group\"}],"
              "\"excluded_who\":[{\"kind\":\"user\",\"id\":51003,\"name\":null,\"via\":\"owner\"}]}]\n");
}

TEST_F(Newcomer, CheckNamesTheAclMaskThatDecided) {
    sb->entry("byport/80", 0, 0, 0500, "u:51005:x,m::r");
    const auto r = sb->portauth({"check", "--tree", "--user", "51005", "tcp/80"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.out.find("byport/80 exists but does not grant it to uid 51005 (the ACL names uid 51005, so its entry "
                         "user:51005 decides: x, but the ACL mask has no x)"),
              std::string::npos)
        << r.out;
}

// Root passes the reservation: said once, and no claim that no entry mentions the port.
TEST_F(Newcomer, RootOnAReservedPortIsExemptWithoutContradiction) {
    sb->entry("reserve/udp/5060", 0, 0, 0400, "u:52033:x,m::x");
    const auto r = sb->portauth({"check", "--tree", "--user", "0", "udp/5060"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("  why:        uid 0 is exempt from the reservation reserve/udp/5060 (root-exempt = yes); no grant "
                         "mentions udp/5060@0.0.0.0; the port is not privileged\n"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("no entry"), std::string::npos) << r.out;
}

// Not cgroup v2 (here a tmpfs, as a cgroup v1 controller dir would be): said
// before anything is loaded, without libbpf's words, exit 100.
TEST_F(Newcomer, ApplyOnADirectoryThatIsNotCgroupV2SaysWhereV2Is) {
    sb->entry("byport/80", 0, 0, 0500, "u:51000:x,m::x");
    const MountGuard tmpfs(sb->tmp() + "/not-a-cgroup");
    ASSERT_EQ(::mkdir(tmpfs.dir.c_str(), 0700), 0) << std::strerror(errno);
    ASSERT_EQ(::mount("tmpfs", tmpfs.dir.c_str(), "tmpfs", 0, "mode=0700"), 0) << std::strerror(errno);
    const auto r = sb->portauth({"apply", "--cgroup", tmpfs.dir});
    EXPECT_EQ(r.status, 100) << r.err;
    const std::regex said("portauth: '" + tmpfs.dir +
                          "' is not a cgroup v2 directory \\(it is on tmpfs\\); the cgroup v2 hierarchy is mounted at (/[^ ]+)\n");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(r.err, m, said)) << r.err;
    struct statfs fs {};
    ASSERT_EQ(::statfs(m[1].str().c_str(), &fs), 0) << m[1];
    EXPECT_EQ(fs.f_type, CGROUP2_SUPER_MAGIC) << m[1] << " is not where cgroup v2 is";
    EXPECT_EQ(r.err.find("libbpf"), std::string::npos) << r.err;
    EXPECT_EQ(sb->portauth({"status"}).status, 1) << "nothing is enforced";

    const auto plain = sb->portauth({"apply", "--cgroup", sb->tmp()});
    EXPECT_EQ(plain.status, 100) << plain.err;
    EXPECT_NE(plain.err.find("portauth: '" + sb->tmp() + "' is not a cgroup v2 directory (it is on "), std::string::npos) << plain.err;
}

// A pin dir that is not on bpffs: apply mounts bpffs on it; unload takes the
// mount down with the last pin, and never a bpffs that it did not mount.
TEST_F(Newcomer, UnloadUnmountsTheBpffsApplyMounted) {
    sb->entry("byport/80", 0, 0, 0500, "u:51000:x,m::x");
    const std::string pins = sb->tmp() + "/pins-not-on-bpffs";
    const MountGuard cleanup(pins);
    struct Unloaded {   // detached before the guard unmounts, also when an assertion fails
        std::string pins;
        ~Unloaded() { sandbox::run({PORTAUTH_BIN, "unload", "--pin-dir", pins}); }
    } unloaded{pins};
    auto r = sandbox::run({PORTAUTH_BIN, "apply", "--policy-dir", sb->policy_dir(), "--pin-dir", pins, "--cgroup", sb->cgroup()});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(is_mount_point_in_mountinfo(pins)) << "apply mounted no bpffs on " << pins;
    r = sandbox::run({PORTAUTH_BIN, "apply", "--policy-dir", sb->policy_dir(), "--pin-dir", pins, "--cgroup", sb->cgroup()});
    ASSERT_EQ(r.status, 0) << "a second apply finds the mount and keeps the record: " << r.err;
    r = sandbox::run({PORTAUTH_BIN, "unload", "--pin-dir", pins});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(is_mount_point_in_mountinfo(pins)) << "unload left the bpffs apply mounted on " << pins;
    struct stat st {};
    EXPECT_NE(::stat(pins.c_str(), &st), 0) << "unload left the directory apply made for the mount";

    // The sandbox's own bpffs (mounted by the test, not by apply) stays.
    ASSERT_EQ(sb->apply().status, 0);
    ASSERT_EQ(sb->portauth({"unload"}).status, 0);
    struct statfs fs {};
    const std::string bpffs = sb->pin_dir().substr(0, sb->pin_dir().find_last_of('/'));
    ASSERT_EQ(::statfs(bpffs.c_str(), &fs), 0);
    EXPECT_EQ(fs.f_type, BPF_FS_MAGIC) << "unload unmounted a bpffs it did not mount: " << bpffs;
}

}  // namespace
