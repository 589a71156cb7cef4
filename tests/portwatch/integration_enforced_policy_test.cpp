// Issue 11, portwatch's side: a tree that is refused does not turn detection
// off while the kernel still enforces a policy from it, and what weakens the
// policy without a squatter - a fallback, a disabled entry, a refused tree -
// shows in `check` and in the metrics file, for alerting to key on.
//
// Root only: each test has its own network namespace, the Sandbox's cgroup,
// bpffs, state dirs and policy dir; PORTAUTH_PIN_DIR points scan and check at
// the Sandbox's engine. The squatters are processes of test uids outside the
// Sandbox's cgroup (where the kernel does not refuse them), so only portwatch
// can see them.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "sandbox.hpp"

namespace {

using namespace std::chrono_literals;

constexpr uint32_t kOwner = 52011;    // owns udp/5060
constexpr uint32_t kSquat = 52012;    // nobody in the policy
constexpr uint32_t kSloppy = 52013;   // owns reserve/udp/5070 and left it writable

// A process of `uid` holding a UDP socket on 127.0.0.1:port until it is destroyed.
class UdpHolder {
public:
    UdpHolder(uint32_t uid, uint16_t port) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            int code = 0;
            if (::setgroups(0, nullptr) || ::setresgid(uid, uid, uid) || ::setresuid(uid, uid, uid)) code = 1;
            const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (!code && (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)) code = 2;
            (void)!::write(p[1], &code, sizeof code);
            for (;;) ::pause();
        }
        ::close(p[1]);
        int code = -1;
        if (::read(p[0], &code, sizeof code) != sizeof code) code = -1;
        ::close(p[0]);
        if (code != 0) throw std::runtime_error("holder setup failed: " + std::to_string(code));
    }
    ~UdpHolder() {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    UdpHolder(const UdpHolder&) = delete;
    UdpHolder& operator=(const UdpHolder&) = delete;

private:
    pid_t pid_ = -1;
};

using sandbox::slurp;
using sandbox::wait_for;

class PortwatchEnforced : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF, other uids)";
        sb_ = std::make_unique<sandbox::Sandbox>();
        pin_dir_env_.emplace("PORTAUTH_PIN_DIR", sb_->pin_dir());
        db_ = sb_->tmp() + "/portwatch.db";
        sb_->entry("reserve/udp/5060", 0, 0, 0400, "u:" + std::to_string(kOwner) + ":x,m::x");
    }
    void TearDown() override {
        stop_daemon();
        pin_dir_env_.reset();
        sb_.reset();
    }

    sandbox::ToolResult pw(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {PORTWATCH_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        return sandbox::run(argv);
    }
    sandbox::ToolResult scan() { return pw({"scan", "--policy-dir", sb_->policy_dir(), "--db", db_}); }
    sandbox::ToolResult check() { return pw({"check", "--policy-dir", sb_->policy_dir(), "--db", db_}); }
    // A mistake only root can make, which refuses the whole tree.
    void break_tree() { ASSERT_EQ(::chmod((sb_->policy_dir() + "/reserve").c_str(), 0777), 0); }

    // `portwatch run` until its metrics file holds `wanted`; returns the file.
    std::string metrics_once(const std::string& wanted) {
        metrics_ = sb_->tmp() + "/metrics.prom";
        log_ = sb_->tmp() + "/daemon.log";
        ::unlink(metrics_.c_str());
        std::vector<std::string> args = {PORTWATCH_BIN, "run", "--policy-dir", sb_->policy_dir(), "--db", db_,
                                         "--pin-dir", sb_->pin_dir(), "--interval", "0.3", "--metrics-file", metrics_};
        daemon_ = ::fork();
        if (daemon_ == 0) {
            const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            ::dup2(fd, 2);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        wait_for([&] { return slurp(metrics_).find(wanted) != std::string::npos; }, 5s);
        return slurp(metrics_);
    }
    int stop_daemon() {
        if (daemon_ <= 0) return -1;
        ::kill(daemon_, SIGTERM);
        int status = 0;
        if (!wait_for([&] { return ::waitpid(daemon_, &status, WNOHANG) == daemon_; }, 5s)) {
            ::kill(daemon_, SIGKILL);
            ::waitpid(daemon_, &status, 0);
        }
        daemon_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    std::unique_ptr<sandbox::Sandbox> sb_;
    std::string db_, metrics_, log_;
    std::optional<sandbox::ScopedEnv> pin_dir_env_;   // PORTAUTH_PIN_DIR: the sandbox's pins
    pid_t daemon_ = -1;
};

TEST_F(PortwatchEnforced, ARefusedTreeStillWatchesThePolicyTheKernelEnforces) {
    auto applied = sb_->apply();
    ASSERT_EQ(applied.status, 0) << applied.err;
    UdpHolder squatter(kSquat, 5060);
    break_tree();
    // Before: "cannot load the policy", exit 2, UNKNOWN - detection off while enforcement goes on.
    auto r = scan();
    EXPECT_EQ(r.status, 1) << "the squatter is found\n" << r.err;
    EXPECT_NE(r.err.find("uid " + std::to_string(kSquat)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("is refused"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("watching the policy the kernel enforces"), std::string::npos) << r.err;
    auto c = check();
    EXPECT_EQ(c.status, 2) << c.out;
    EXPECT_EQ(c.out.rfind("PORTWATCH CRITICAL - 1 squatter", 0), 0u) << c.out;
    EXPECT_NE(c.out.find("is refused"), std::string::npos) << c.out;

    const std::string m = metrics_once("portwatch_squatters 1\n");
    EXPECT_NE(m.find("portwatch_squatters 1\n"), std::string::npos) << m << slurp(log_);
    EXPECT_NE(m.find("portwatch_policy_tree_refused 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_enforcement_active 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_policy_fallback 0\n"), std::string::npos) << m;
    EXPECT_EQ(stop_daemon(), 0) << slurp(log_);
}

// The labelled series a fleet's alerts key on: the kernel's counters per
// entry, the squatters by reservation and port, the policy's generation and age.
TEST_F(PortwatchEnforced, TheMetricsCountEachEntrysBindsAndTheSquattersByPort) {
    auto applied = sb_->apply();
    ASSERT_EQ(applied.status, 0) << applied.err;
    EXPECT_EQ(sb_->bind({kSquat, kSquat, {}}, "udp", "0.0.0.0", 5060), EACCES) << "refused by the reservation (bind_as says EACCES for EPERM too)";
    EXPECT_EQ(sb_->bind({kOwner, kOwner, {}}, "udp", "0.0.0.0", 5060), 0) << "its owner binds";
    UdpHolder squatter(kSquat, 5060);   // outside the governed cgroup: a squatter for portwatch

    const std::string labels = "{entry=\"reserve/udp/5060\",proto=\"udp\",port=\"5060\"}";
    const std::string m = metrics_once("portwatch_squatter_sockets" + labels + " 1\n");
    EXPECT_NE(m.find("portwatch_squatter_sockets" + labels + " 1\n"), std::string::npos) << m << slurp(log_);
    EXPECT_NE(m.find("portwatch_entry_denied_binds_total" + labels + " 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_entry_allowed_binds_total" + labels + " 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("# TYPE portwatch_entry_denied_binds_total counter\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_policy_generation 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_policy_age_seconds "), std::string::npos) << m;
    EXPECT_EQ(stop_daemon(), 0) << slurp(log_);
}

TEST_F(PortwatchEnforced, NothingEnforcedAndATreeRefusedIsStillAnError) {
    break_tree();
    auto r = scan();
    EXPECT_EQ(r.status, 2) << r.err;
    auto c = check();
    EXPECT_EQ(c.status, 3) << c.out;
    EXPECT_EQ(c.out.rfind("PORTWATCH UNKNOWN - ", 0), 0u) << c.out;
}

TEST_F(PortwatchEnforced, AFallbackAndADisabledEntryWarnInCheckAndShowInTheMetrics) {
    // An entry its owner can change: it fails closed alone (a reservation for root only).
    sb_->entry("reserve/udp/5070", kSloppy, kSloppy, 0570);
    auto applied = sb_->apply();
    ASSERT_EQ(applied.status, 2) << "applied with entries disabled\n" << applied.err;
    auto c = check();
    EXPECT_EQ(c.status, 1) << c.out;
    EXPECT_EQ(c.out.rfind("PORTWATCH WARNING - no squatters; 1 entry is disabled, failing closed: reserve/udp/5070", 0), 0u) << c.out;

    std::string m = metrics_once("portwatch_policy_entry_disabled{");
    EXPECT_NE(m.find("portwatch_policy_entry_disabled{entry=\"reserve/udp/5070\",reason=\""), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_policy_disabled_entries 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_policy_fallback 0\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_policy_tree_refused 0\n"), std::string::npos) << m;
    EXPECT_EQ(stop_daemon(), 0) << slurp(log_);

    // A boot with a refused tree: the last good policy, loudly.
    ASSERT_EQ(sb_->portauth({"unload"}).status, 0);
    break_tree();
    applied = sb_->apply();
    ASSERT_EQ(applied.status, 111) << applied.err;
    c = check();
    EXPECT_EQ(c.status, 1) << c.out;
    EXPECT_NE(c.out.find("portauth enforces the last good policy as a fallback"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("1 entry is disabled"), std::string::npos) << "the last good policy's disabled entry\n" << c.out;
    m = metrics_once("portwatch_policy_fallback 1\n");
    EXPECT_NE(m.find("portwatch_policy_fallback 1\n"), std::string::npos) << m << slurp(log_);
    EXPECT_NE(m.find("portwatch_policy_tree_refused 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("portwatch_enforcement_active 1\n"), std::string::npos) << m;
    EXPECT_EQ(stop_daemon(), 0) << slurp(log_);

    // No longer a fallback once the tree is fixed and applied.
    ASSERT_EQ(::chmod((sb_->policy_dir() + "/reserve").c_str(), 0755), 0);
    ASSERT_EQ(sb_->apply().status, 2);
    m = metrics_once("portwatch_policy_fallback 0\n");
    EXPECT_NE(m.find("portwatch_policy_fallback 0\n"), std::string::npos) << m;
}

}  // namespace
