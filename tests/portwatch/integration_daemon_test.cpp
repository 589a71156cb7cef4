// portwatch run as a daemon against real processes: the hook as its own
// process, SIGTERM while a hook sleeps, kills of several holders in one grace,
// an escalation from destroy to kill. Each test in its own network namespace.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "sandbox.hpp"

namespace {

using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return cond();
}

// A udp/5060 holder of uid 51001 that forks `extra` children sharing the socket.
pid_t squatter(int extra, bool ignore_term = false) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (ignore_term) signal(SIGTERM, SIG_IGN);
        if (setgroups(0, nullptr) || setresgid(51001, 51001, 51001) || setresuid(51001, 51001, 51001)) _exit(1);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(5060);
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) _exit(2);
        for (int i = 0; i < extra; ++i)
            if (fork() == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;) pause();
            }
        char c = 1;
        (void)!write(p[1], &c, 1);
        for (;;) pause();
    }
    close(p[1]);
    char c = 0;
    (void)!read(p[0], &c, 1);
    close(p[0]);
    return pid;
}

bool port_free() {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(5060);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}

class PortwatchDaemon : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root";
        ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ifreq ifr{};
        std::strcpy(ifr.ifr_name, "lo");
        ASSERT_EQ(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
        ifr.ifr_flags |= IFF_UP;
        ASSERT_EQ(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
        close(s);
        box_ = std::make_unique<sandbox::Sandbox>();
        db_ = box_->tmp() + "/portwatch.db";
        box_->entry("reserve/udp/5060", 0, 0, 0400, "u:51000:x,m::x");
    }
    void TearDown() override {
        stop();
        if (squatter_ > 0) {
            kill(-squatter_, SIGKILL);
            kill(squatter_, SIGKILL);
            waitpid(squatter_, nullptr, 0);
        }
        box_.reset();
    }
    void start(std::vector<std::string> extra) {
        log_ = box_->tmp() + "/daemon.log";
        std::vector<std::string> args = {PORTWATCH_BIN, "run", "--policy-dir", box_->policy_dir(), "--db", db_, "--pin-dir", box_->pin_dir(),
                                         "--interval", "0.2"};
        args.insert(args.end(), extra.begin(), extra.end());
        daemon_ = fork();
        if (daemon_ == 0) {
            int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            dup2(fd, 2);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
    }
    // Milliseconds from SIGTERM to exit; -1 when it did not exit in 5 s.
    long stop() {
        if (daemon_ <= 0) return 0;
        const auto t0 = std::chrono::steady_clock::now();
        kill(daemon_, SIGTERM);
        int status = 0;
        bool done = wait_for([&] { return waitpid(daemon_, &status, WNOHANG) == daemon_; }, 5000ms);
        if (!done) {
            kill(daemon_, SIGKILL);
            waitpid(daemon_, nullptr, 0);
        }
        daemon_ = -1;
        return done ? static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()) : -1;
    }
    std::string report() {
        auto r = sandbox::run({PORTWATCH_BIN, "report", "--db", db_, "--format", "json"});
        return r.out;
    }

    std::unique_ptr<sandbox::Sandbox> box_;
    std::string db_, log_;
    pid_t daemon_ = -1, squatter_ = -1;
};

TEST_F(PortwatchDaemon, HookIsItsOwnProcessAndSeesEscapedValues) {
    squatter_ = squatter(0);
    const std::string out = box_->tmp() + "/hook.out";
    const std::string hook = "{ echo \"kind=$PORTWATCH_KIND port=$PORTWATCH_PORT uid=$PORTWATCH_UID\"; grep SigBlk /proc/self/status; "
                             "[ \"$(ps -o pgid= $$ | tr -d ' ')\" = $$ ] && echo ownpgid; cat; echo stdin-done; } > " + out;
    start({"--exec", hook});
    ASSERT_TRUE(wait_for([&] { return slurp(out).find("stdin-done") != std::string::npos; }, 5000ms)) << slurp(log_);
    const std::string text = slurp(out);
    EXPECT_NE(text.find("kind=squat port=5060 uid=51001"), std::string::npos) << text;
    EXPECT_NE(text.find("SigBlk:\t0000000000000000"), std::string::npos) << text;
    EXPECT_NE(text.find("ownpgid"), std::string::npos) << text;
    EXPECT_GE(stop(), 0);
}

TEST_F(PortwatchDaemon, SigtermDuringASleepingHookExitsWithinASecond) {
    squatter_ = squatter(0);
    const std::string marker = box_->tmp() + "/started";
    start({"--exec", "touch " + marker + "; trap '' TERM; sleep 30", "--exec-timeout", "60"});
    ASSERT_TRUE(wait_for([&] { return access(marker.c_str(), F_OK) == 0; }, 5000ms)) << slurp(log_);
    const long ms = stop();
    EXPECT_GE(ms, 0);
    EXPECT_LT(ms, 1000) << slurp(log_);
}

TEST_F(PortwatchDaemon, KillEndsEveryHolderInOneGrace) {
    squatter_ = squatter(2, /*ignore_term=*/true);   // three holders that ignore SIGTERM
    const auto t0 = std::chrono::steady_clock::now();
    start({"--action", "kill", "--grace", "1"});
    ASSERT_TRUE(wait_for(port_free, 5000ms)) << slurp(log_);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 2500ms) << "one grace for all, not one per holder";
    EXPECT_TRUE(wait_for([&] { return report().find("the port is free") != std::string::npos; }, 3000ms)) << report() << slurp(log_);
    EXPECT_NE(report().find("killed pids"), std::string::npos) << report();
}

TEST_F(PortwatchDaemon, DestroyThenRestartWithKillFreesThePort) {
    squatter_ = squatter(0);
    start({"--action", "destroy"});
    ASSERT_TRUE(wait_for([&] { return report().find("the port stays bound") != std::string::npos; }, 5000ms)) << slurp(log_);
    EXPECT_FALSE(port_free());
    EXPECT_GE(stop(), 0);
    start({"--action", "kill", "--grace", "0"});
    EXPECT_TRUE(wait_for(port_free, 5000ms)) << slurp(log_);
    // With no grace, SIGTERM and SIGKILL race: either word may be the one recorded.
    EXPECT_TRUE(wait_for([&] { return report().find("the port is free") != std::string::npos; }, 3000ms)) << report();
    const std::string r = report();
    EXPECT_TRUE(r.find("terminated pid") != std::string::npos || r.find("killed pid") != std::string::npos) << r;
}

}  // namespace
