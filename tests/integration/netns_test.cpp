// `ip netns exec NAME portauth ...`: the command gets a network namespace,
// a mount namespace of its own and a fresh /sys without the cgroup2
// hierarchy and bpffs. portauth reaches the host's (through the host's init
// process, PORTAUTH_INIT_PID here) or refuses in one line that names what to
// run instead; status names the governed namespace; an apply from another
// namespace never takes the pins of the one they govern.
//
// The scene, all of it gone when the test ends: the test process in a
// network namespace of its own (its "host"); a shell A in a private mount
// namespace with a scratch bpffs on /sys/fs/bpf and a tmpfs on /run holding
// /run/netns/blue; inside it a shell B exactly as `ip netns exec blue` leaves
// one: the network namespace /run/netns/blue (made in A, as `ip netns add`
// makes one), a mount namespace of its own (slave), /sys unmounted and a
// fresh sysfs mounted. A's pid is the "host's init" for B.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>

#include "sandbox.hpp"

namespace {

using sandbox::Creds;

const Creds kOther{51001, 51001, {}};

// Runs in B: $1 portauth, $2 policy dir, $3 cgroup.
constexpr const char* kInsideB = R"(set -u
echo $$ > "$3/cgroup.procs" || { echo "cannot join the cgroup"; exit 92; }   # while /sys is the host's
umount -l /sys && mount -t sysfs sysfs /sys || { echo "cannot remount /sys"; exit 93; }
ip link set lo up
echo "== apply"; "$1" apply --policy-dir "$2" --cgroup "$3" 2>&1; echo "rc=$?"
echo "== status"; "$1" status 2>&1; echo "rc=$?"
echo "== json"; "$1" status --json 2>&1; echo "rc=$?"
echo "== adverb"; (exec "$1" sh -c 'echo ran') 2>&1; echo "rc=$?"
echo "== squat"; (exec setpriv --reuid 51001 --regid 51001 --clear-groups \
  /usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(("127.0.0.1", 5060)); print("bound")
except OSError as e:
    print("refused", e.errno)') 2>&1; echo "rc=$?"
echo "== unload"; "$1" unload 2>&1; echo "rc=$?"
echo "== after"; "$1" status 2>&1; echo "rc=$?"
)";

// Runs in A: $1 the "host's init" pid for B ("self": A itself), then B's arguments.
constexpr const char* kInsideA = R"(set -u
mount -t bpf bpf /sys/fs/bpf || exit 90
mount -t tmpfs tmpfs /run && mkdir /run/netns && touch /run/netns/blue || exit 91
unshare --net=/run/netns/blue true || exit 92   # ip netns add blue
if [ "$1" = self ]; then export PORTAUTH_INIT_PID=$$; else export PORTAUTH_INIT_PID=$1; fi
shift
nsenter --net=/run/netns/blue unshare --mount --propagation slave bash "$B_SCRIPT" "$@"   # ip netns exec blue
)";

class Netns : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, cgroups, BPF)";
        sb = std::make_unique<sandbox::Sandbox>();
        sb->entry("reserve/udp/5060", 0, 0, 0400);   // root's alone
        a_script = sb->tmp() + "/a.sh";
        b_script = sb->tmp() + "/b.sh";
        std::ofstream(a_script) << kInsideA;
        std::ofstream(b_script) << kInsideB;
    }
    // The transcript of B, run as `ip netns exec blue` would run it.
    sandbox::ToolResult as_ip_netns_exec(const std::string& init_pid) {
        ::setenv("B_SCRIPT", b_script.c_str(), 1);
        auto r = sandbox::run({"unshare", "--mount", "--propagation", "private", "bash", a_script, init_pid, PORTAUTH_BIN,
                               sb->policy_dir(), sb->cgroup()});
        ::unsetenv("B_SCRIPT");
        return r;
    }
    static std::string part(const std::string& out, const std::string& name) {
        const auto start = out.find("== " + name + "\n");
        if (start == std::string::npos) return {};
        const auto end = out.find("\n== ", start + 1);
        return out.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
    std::unique_ptr<sandbox::Sandbox> sb;
    std::string a_script, b_script;
};

TEST_F(Netns, UnderIpNetnsExecApplyStatusTheAdverbAndUnloadReachTheHostsPins) {
    auto r = as_ip_netns_exec("self");
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    const std::string apply = part(r.out, "apply"), status = part(r.out, "status"), json = part(r.out, "json");
    EXPECT_NE(apply.find("portauth: applied 1 rule"), std::string::npos) << apply;
    EXPECT_NE(apply.find("rc=0"), std::string::npos) << apply;
    // The pins are the host's bpffs (A's scratch one), in the namespace's own pin dir.
    EXPECT_NE(status.find("portauth: active"), std::string::npos) << status;
    EXPECT_NE(status.find("pinned at:     /sys/fs/bpf/portauth-net"), std::string::npos) << status;
    EXPECT_NE(status.find("'blue', this process's"), std::string::npos) << status;
    EXPECT_NE(json.find("\"netns_name\":\"blue\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"netns_current\":true"), std::string::npos) << json;
    EXPECT_NE(part(r.out, "adverb").find("ran\nrc=0"), std::string::npos) << part(r.out, "adverb");
    EXPECT_NE(part(r.out, "squat").find("refused " + std::to_string(sandbox::refusal_errno())), std::string::npos) << part(r.out, "squat");
    EXPECT_NE(part(r.out, "unload").find("unloaded the policy pinned at /sys/fs/bpf/portauth-net"), std::string::npos)
        << part(r.out, "unload");
    EXPECT_NE(part(r.out, "after").find("not active"), std::string::npos) << part(r.out, "after");
}

TEST_F(Netns, WhenTheHostIsOutOfReachEachCommandSaysWhatToRunInstead) {
    auto r = as_ip_netns_exec("999999999");   // no such process: nothing to reach through
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    for (const char* cmd : {"apply", "status", "unload"}) {
        const std::string said = part(r.out, cmd);
        EXPECT_NE(said.find("nsenter --net=/run/netns/blue portauth"), std::string::npos) << said;
        EXPECT_NE(said.find("'ip netns exec'"), std::string::npos) << said;
        EXPECT_EQ(said.find("rc=0"), std::string::npos) << cmd << " must not succeed:\n" << said;
        EXPECT_EQ(said.find("not active"), std::string::npos) << cmd << " cannot know that:\n" << said;
    }
}

TEST_F(Netns, AnApplyFromAnotherNamespaceNeverTakesThePinsOfTheOneTheyGovern) {
    ASSERT_EQ(sb->apply().status, 0);
    ASSERT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), EACCES);
    auto r = sandbox::run({"unshare", "--net", PORTAUTH_BIN, "apply", "--policy-dir", sb->policy_dir(), "--cgroup", sb->cgroup(),
                           "--pin-dir", sb->pin_dir()});
    EXPECT_EQ(r.status, 111) << r.out << r.err;
    EXPECT_NE(r.err.find("governs net:["), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not this process's net:["), std::string::npos) << r.err;
    EXPECT_EQ(sb->bind(kOther, "udp", "127.0.0.1", 5060), EACCES) << "the policy stays where it was";
    auto st = sb->portauth({"status"});
    EXPECT_NE(st.out.find("this process's"), std::string::npos) << st.out;
}

}  // namespace
