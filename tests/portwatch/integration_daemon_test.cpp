// portwatch run as a daemon against real processes: the hook as its own
// process, its environment (escaped) and its timeout, SIGTERM while a hook
// sleeps, kills of several holders in one grace, an escalation from destroy to
// kill, a holder that hands its socket to a child when told to stop, SIGTERM
// and scans under a flood of refused binds, reports that read the record while
// the daemon writes it. Each test in its own network namespace.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sandbox.hpp"

namespace {

using namespace std::chrono_literals;

using sandbox::slurp;
using sandbox::wait_for;

// In a forked child: become uid 51001 and bind udp/5060 (exit 1 or 2 when that fails).
void bind_5060_as_51001() {
    if (setgroups(0, nullptr) || setresgid(51001, 51001, 51001) || setresuid(51001, 51001, 51001)) _exit(1);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(5060);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) _exit(2);
}

// A udp/5060 holder of uid 51001 that forks `extra` children sharing the
// socket; named `comm` (at most 15 bytes) when given.
pid_t squatter(int extra, bool ignore_term = false, const char* comm = nullptr) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (comm) prctl(PR_SET_NAME, comm);
        if (ignore_term) signal(SIGTERM, SIG_IGN);
        bind_5060_as_51001();
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

volatile sig_atomic_t g_term_seen = 0;
void note_term(int) { g_term_seen = 1; }

// Attacker's program: a udp/5060 holder of uid 51001 that answers SIGTERM by
// forking a child that keeps the socket, then exits 0 (it "terminated"); the
// child does the same at its SIGTERM, and so on. The first one leads its own
// process group, so the test can end every generation with kill(-pgid) (the
// fixture's TearDown does), whoever their parent is by then.
pid_t handing_squatter() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);   // not inherited by the generations: kill(-pgid) covers them
        bind_5060_as_51001();
        struct sigaction sa {};
        sa.sa_handler = note_term;
        sigaction(SIGTERM, &sa, nullptr);
        sigset_t term, waiting;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        sigprocmask(SIG_BLOCK, &term, &waiting);   // SIGTERM only inside sigsuspend: none is missed
        sigdelset(&waiting, SIGTERM);
        char c = 1;
        (void)!write(p[1], &c, 1);
        for (;;) {
            sigsuspend(&waiting);
            if (!g_term_seen) continue;
            g_term_seen = 0;
            if (fork() != 0) _exit(0);   // the parent "terminates"; the child goes on holding fd
        }
    }
    setpgid(pid, pid);
    close(p[1]);
    char c = 0;
    const bool ready = read(p[0], &c, 1) == 1;
    close(p[0]);
    if (ready) return pid;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
}

// Attacker's program: joins `cgroup`, becomes `uid` and binds udp/5060 in a
// tight loop until killed; the engine refuses each bind.
pid_t start_flood(const std::string& cgroup, uint32_t uid) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "flooder");
        const int cg = open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
        if (cg < 0 || write(cg, "0", 1) != 1) _exit(1);
        close(cg);
        if (setgroups(0, nullptr) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) _exit(1);
        const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(5060);
        char c = 1;
        (void)!write(p[1], &c, 1);
        for (;;) (void)bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    close(p[1]);
    char c = 0;
    const bool ready = read(p[0], &c, 1) == 1;
    close(p[0]);
    if (ready) return pid;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
}

// The objects of `portwatch report --format json`'s array, as text (the
// writer is compact: `"uid":51003,`).
std::vector<std::string> json_rows(const std::string& json) {
    std::vector<std::string> rows;
    int depth = 0;
    bool in_string = false, escaped = false;
    size_t start = 0;
    for (size_t i = 0; i < json.size(); ++i) {
        const char c = json[i];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' && depth++ == 0) start = i;
        else if (c == '}' && --depth == 0) rows.push_back(json.substr(start, i - start + 1));
    }
    return rows;
}

bool has(const std::string& row, const std::string& text) { return row.find(text) != std::string::npos; }

// The row's "count".
uint64_t count_of(const std::string& row) {
    const auto at = row.find("\"count\":");
    return at == std::string::npos ? 0 : std::strtoull(row.c_str() + at + 8, nullptr, 10);
}

// The POSIX locks `pid` holds on the file with inode `ino`, from /proc/locks
// ("1: POSIX  ADVISORY  READ 26731 fe:00:10953221 128 128").
int posix_locks(pid_t pid, ino_t ino) {
    std::ifstream in("/proc/locks");
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string id, type, advisory, mode, owner, dev;
        if (!(f >> id >> type)) continue;
        if (type == "->") f >> type;   // a blocked waiter
        f >> advisory >> mode >> owner >> dev;
        const std::string tail = ":" + std::to_string(ino);
        if (type == "POSIX" && owner == std::to_string(pid) && dev.size() > tail.size() &&
            dev.compare(dev.size() - tail.size(), tail.size(), tail) == 0)
            ++n;
    }
    return n;
}

// Writes an executable script (the hooks' shape: a file the admin names in --exec).
void write_script(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    chmod(path.c_str(), 0700);
}

// The NAME=value lines of `env`'s output whose name starts with PORTWATCH_.
std::map<std::string, std::string> portwatch_variables(const std::string& env) {
    std::map<std::string, std::string> vars;
    std::istringstream in(env);
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (line.rfind("PORTWATCH_", 0) == 0 && eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return vars;
}

// The files in `dir` whose names end in `suffix`.
std::vector<std::string> files_in(const std::string& dir, const std::string& suffix) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            out.push_back(e.path().string());
    }
    return out;
}

// Gone, or a zombie: it runs no more.
bool ended(pid_t pid) {
    if (kill(pid, 0) != 0) return errno == ESRCH;
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
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
        // The sandbox puts this process in a network namespace of its own, lo up.
        box_ = std::make_unique<sandbox::Sandbox>();
        db_ = box_->tmp() + "/portwatch.db";
        box_->entry("reserve/udp/5060", 0, 0, 0400, "u:51000:x,m::x");
    }
    void TearDown() override {
        if (flood_ > 0) {
            kill(flood_, SIGKILL);
            waitpid(flood_, nullptr, 0);
        }
        stop();
        // kill(-squatter_) ends what a group leader left behind (handing_squatter's generations).
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
        // Never the host's node_exporter directory (the default where it exists).
        if (std::find(extra.begin(), extra.end(), "--metrics-file") == extra.end()) args.insert(args.end(), {"--metrics-file", ""});
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
            waitpid(daemon_, &status, 0);
        }
        status_ = status;
        daemon_ = -1;
        return done ? static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()) : -1;
    }
    std::string report() {
        auto r = sandbox::run({PORTWATCH_BIN, "report", "--db", db_, "--format", "json"});
        return r.out;
    }
    // The daemon has opened (created, migrated) its database and is in its loop. A report opened
    // while the daemon creates the file can make the daemon refuse it (see the report to the team).
    bool started() {
        return wait_for([&] { return slurp(log_).find("info: watching ") != std::string::npos; }, 5000ms);
    }
    // For failure messages: whether the daemon is still running (it is left to stop() to reap).
    std::string daemon_state() {
        siginfo_t si{};
        if (daemon_ <= 0 || waitid(P_PID, static_cast<id_t>(daemon_), &si, WEXITED | WNOHANG | WNOWAIT) != 0) return "no daemon\n";
        if (si.si_pid == 0) return "the daemon is running\n";
        return std::string("the daemon is gone: ") + (si.si_code == CLD_EXITED ? "exit status " : "signal ") + std::to_string(si.si_status) + "\n";
    }
    std::vector<std::string> rows() { return json_rows(report()); }
    // Rows of kind `kind` for uid `uid`.
    std::vector<std::string> rows_of(const std::string& kind, uint32_t uid) {
        std::vector<std::string> out;
        for (auto& r : rows())
            if (has(r, "\"kind\":\"" + kind + "\"") && has(r, "\"uid\":" + std::to_string(uid) + ",")) out.push_back(r);
        return out;
    }

    std::unique_ptr<sandbox::Sandbox> box_;
    std::string db_, log_;
    pid_t daemon_ = -1, squatter_ = -1, flood_ = -1;
    int status_ = -1;   // the daemon's wait status, from stop()
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

// The alert hook end to end, as an admin writes one: a script that saves its
// environment. It runs once for a new squat (not at every scan while the squat
// persists), with exactly the variables portwatch(8) documents, and the
// squatter's hostile comm (a terminal escape, a newline, a backslash, a byte
// that is not UTF-8) arrives escaped as docs/portwatch.md "Untrusted text" says.
TEST_F(PortwatchDaemon, HookRunsOnceWithTheDocumentedVariablesEscaped) {
    const int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    squatter_ = squatter(0, false, "sq\x1b[2J\n\\\xff");
    ASSERT_GT(squatter_, 0);
    const std::string runs = box_->tmp() + "/hook-runs";
    ASSERT_EQ(mkdir(runs.c_str(), 0700), 0);
    const std::string hook = box_->tmp() + "/save-env.sh";
    write_script(hook, "#!/bin/sh\nenv > \"$1/.$$\" && mv \"$1/.$$\" \"$1/$$.env\"\n");
    start({"--exec", hook + " " + runs});
    ASSERT_TRUE(wait_for([&] { return !files_in(runs, ".env").empty(); }, 5000ms)) << daemon_state() << slurp(log_);
    std::this_thread::sleep_for(1500ms);   // seven more scans of the same squat
    const auto saved = files_in(runs, ".env");
    ASSERT_EQ(saved.size(), 1u) << "the hook ran " << saved.size() << " times for one squat\n" << slurp(log_);
    const int64_t after = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();

    const auto vars = portwatch_variables(slurp(saved[0]));
    std::vector<std::string> names;
    for (const auto& [name, value] : vars) names.push_back(name);
    // man/portwatch.8, --exec: these and no others.
    EXPECT_EQ(names, (std::vector<std::string>{"PORTWATCH_ACTION", "PORTWATCH_ACTION_RESULT", "PORTWATCH_ADDR", "PORTWATCH_COMM",
                                               "PORTWATCH_COUNT", "PORTWATCH_ENTRY", "PORTWATCH_EXE", "PORTWATCH_FIRST_SEEN",
                                               "PORTWATCH_IDENTITY", "PORTWATCH_KIND", "PORTWATCH_LAST_SEEN", "PORTWATCH_PID",
                                               "PORTWATCH_PORT", "PORTWATCH_PROTO", "PORTWATCH_UID", "PORTWATCH_USER"}));
    auto var = [&](const std::string& name) {
        auto it = vars.find("PORTWATCH_" + name);
        return it == vars.end() ? std::string("(unset)") : it->second;
    };
    EXPECT_EQ(var("KIND"), "squat");
    EXPECT_EQ(var("PROTO"), "udp");
    EXPECT_EQ(var("ADDR"), "0.0.0.0");
    EXPECT_EQ(var("PORT"), "5060");
    EXPECT_EQ(var("UID"), "51001");
    EXPECT_EQ(var("USER"), "51001");   // no passwd entry: the number
    EXPECT_EQ(var("PID"), std::to_string(squatter_));
    EXPECT_EQ(var("COMM"), "sq\\x1b[2J\\x0a\\\\\\xff");   // the text sq\x1b[2J\x0a\\\xff
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);   // the squatter is a fork of this program
    ASSERT_GT(n, 0);
    EXPECT_EQ(var("EXE"), std::string(exe, static_cast<size_t>(n)));
    EXPECT_EQ(var("ENTRY"), "reserve/udp/5060");
    EXPECT_EQ(var("ACTION"), "log");
    EXPECT_EQ(var("ACTION_RESULT"), "");
    EXPECT_EQ(var("IDENTITY"), "holder");   // nothing enforced here: judged by the holding process
    EXPECT_EQ(var("COUNT"), "1");
    const int64_t first_seen = std::strtoll(var("FIRST_SEEN").c_str(), nullptr, 10);
    EXPECT_GE(first_seen, before) << var("FIRST_SEEN");
    EXPECT_LE(first_seen, after) << var("FIRST_SEEN");
    EXPECT_EQ(var("LAST_SEEN"), var("FIRST_SEEN"));   // the run is for the squat's first sighting
    EXPECT_GE(stop(), 0);
    EXPECT_TRUE(WIFEXITED(status_) && WEXITSTATUS(status_) == 0) << "wait status " << status_ << "\n" << slurp(log_);
}

// A hook that hangs is killed with its whole process group at --exec-timeout
// (hook.hpp), not before, and the daemon says so and goes on. The script and
// its child ignore SIGTERM: the `sh -c` that runs the script leads the group
// and dies of it, and what is left of its group is killed with it.
TEST_F(PortwatchDaemon, AHangingHookIsKilledWithItsGroupAtTheTimeout) {
    squatter_ = squatter(0);
    ASSERT_GT(squatter_, 0);
    const std::string pids = box_->tmp() + "/hook.pids";
    const std::string hook = box_->tmp() + "/hang.sh";
    // "SHELL CHILD START": its pid, its child's, and when it started (ms since the epoch).
    write_script(hook, "#!/bin/sh\nstart=$(date +%s%3N)\ntrap '' TERM\nsleep 60 &\n"
                       "echo \"$$ $! $start\" > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\nwait\n");
    start({"--exec", hook + " " + pids, "--exec-timeout", "2"});
    ASSERT_TRUE(wait_for([&] { return access(pids.c_str(), F_OK) == 0; }, 5000ms)) << daemon_state() << slurp(log_);
    pid_t shell = 0, child = 0;
    int64_t started_ms = 0;
    std::istringstream(slurp(pids)) >> shell >> child >> started_ms;
    ASSERT_GT(shell, 0);
    ASSERT_GT(child, 0);
    const auto since_start = [&] {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
        return std::chrono::milliseconds(now.count() - started_ms);
    };
    std::this_thread::sleep_for(1000ms - since_start());
    EXPECT_FALSE(ended(shell) || ended(child)) << "killed " << since_start().count() << " ms after its start, before --exec-timeout 2\n" << slurp(log_);
    ASSERT_TRUE(wait_for([&] { return ended(shell) && ended(child); }, 5000ms)) << "the hook outlived --exec-timeout 2 by 4 s\n" << slurp(log_);
    // At 2 s (counted from just before the script's first line), at the latest
    // 0.3 s later (SIGKILL to a leader that ignores SIGTERM), and a poll.
    EXPECT_GE(since_start(), 1500ms);
    EXPECT_LT(since_start(), 3500ms);
    EXPECT_TRUE(wait_for([&] { return slurp(log_).find("timed out and was killed with its process group") != std::string::npos; }, 2000ms))
        << slurp(log_);
    EXPECT_EQ(daemon_state(), "the daemon is running\n") << slurp(log_);
    EXPECT_GE(stop(), 0);
    EXPECT_TRUE(WIFEXITED(status_) && WEXITSTATUS(status_) == 0) << "wait status " << status_ << "\n" << slurp(log_);
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

TEST_F(PortwatchDaemon, ForkingSquatterLosesThePortToo) {
    squatter_ = handing_squatter();
    ASSERT_GT(squatter_, 0);
    ASSERT_FALSE(port_free());
    start({"--action", "kill", "--grace", "1"});
    ASSERT_TRUE(started()) << slurp(log_);
    // Until the port is free, no report may say it is.
    bool claimed_while_held = false;
    std::string claim;
    const bool freed = wait_for(
        [&] {
            const std::string r = report();
            if (has(r, "the port is free") && !port_free()) {
                claimed_while_held = true;
                claim = r;
            }
            return port_free();
        },
        5000ms);
    EXPECT_FALSE(claimed_while_held) << claim;
    ASSERT_TRUE(freed) << "every generation still held udp/5060\n" << report() << daemon_state() << slurp(log_);
    // The attack did happen: the first holder answered SIGTERM by handing the socket on and exiting 0.
    siginfo_t si{};
    ASSERT_EQ(waitid(P_PID, static_cast<id_t>(squatter_), &si, WEXITED | WNOHANG | WNOWAIT), 0);
    EXPECT_EQ(si.si_pid, squatter_);
    EXPECT_EQ(si.si_code, CLD_EXITED);
    EXPECT_EQ(si.si_status, 0);
    EXPECT_TRUE(wait_for([&] { return report().find("the port is free") != std::string::npos; }, 3000ms)) << report() << daemon_state() << slurp(log_);
    const auto squats = rows_of("squat", 51001);
    ASSERT_EQ(squats.size(), 1u) << report();
    EXPECT_TRUE(has(squats[0], "\"action\":\"kill\"")) << squats[0];
    // Only SIGKILL ends a holder that forks at SIGTERM.
    EXPECT_TRUE(has(squats[0], "killed pid")) << squats[0];
}

TEST_F(PortwatchDaemon, SigtermDuringARefusalFloodExitsPromptly) {
    const auto applied = box_->apply();
    ASSERT_EQ(applied.status, 0) << applied.err;
    flood_ = start_flood(box_->cgroup(), 51002);
    ASSERT_GT(flood_, 0);
    const auto t0 = std::chrono::steady_clock::now();
    start({"--exec", "true"});
    ASSERT_TRUE(started()) << slurp(log_);
    ASSERT_TRUE(wait_for([&] { return !rows_of("refused", 51002).empty(); }, 5000ms)) << report() << daemon_state() << slurp(log_);
    // A squat that starts mid-flood is still found by the scans.
    squatter_ = squatter(0);
    ASSERT_GT(squatter_, 0);
    EXPECT_TRUE(wait_for([&] { return !rows_of("squat", 51001).empty(); }, 5000ms)) << report() << daemon_state() << slurp(log_);
    std::this_thread::sleep_until(t0 + 2s);   // at least 2 s of flood before the signal
    EXPECT_GE(stop(), 0) << "no exit within 5 s of SIGTERM under a flood\n" << slurp(log_);
    EXPECT_TRUE(WIFEXITED(status_) && WEXITSTATUS(status_) == 0) << "wait status " << status_ << "\n" << slurp(log_);
}

TEST_F(PortwatchDaemon, AnotherUsersRefusalMidFloodIsRecorded) {
    const auto applied = box_->apply();
    ASSERT_EQ(applied.status, 0) << applied.err;
    flood_ = start_flood(box_->cgroup(), 51002);
    ASSERT_GT(flood_, 0);
    start({});
    ASSERT_TRUE(started()) << slurp(log_);
    ASSERT_TRUE(wait_for([&] { return !rows_of("refused", 51002).empty(); }, 5000ms)) << report() << daemon_state() << slurp(log_);
    ASSERT_EQ(box_->bind({51003, 51003, {}}, "udp", "0.0.0.0", 5060), EACCES);
    EXPECT_TRUE(wait_for([&] { return !rows_of("refused", 51003).empty(); }, 5000ms)) << report() << daemon_state() << slurp(log_);
    std::this_thread::sleep_for(3s);   // more flood: it must not grow the record
    const auto all = rows();
    EXPECT_LT(all.size(), 50u) << report();
    // One row per key per aggregation window (a few seconds of flood cross at most one boundary), carrying the count.
    const auto flood_rows = rows_of("refused", 51002);
    EXPECT_LE(flood_rows.size(), 2u) << report();
    uint64_t counted = 0;
    for (const auto& r : flood_rows) counted += count_of(r);
    EXPECT_GT(counted, 100u) << "the refusals the kernel folded are not counted\n" << report();
    const auto third = rows_of("refused", 51003);
    ASSERT_EQ(third.size(), 1u) << report();
    EXPECT_EQ(count_of(third[0]), 1u) << third[0];
}

// `portwatch report` opens the record while the daemon writes it. SQLite tells
// the first user of a WAL database from the others by a lock on its -shm: a
// daemon that lost that lock has its WAL index truncated and rebuilt under it
// by the next report that opens the file (SIGBUS in the daemon, or an index
// that no longer matches the WAL).
TEST_F(PortwatchDaemon, KeepsSqlitesLockOnTheWalIndexWhileReportsRead) {
    start({});
    ASSERT_TRUE(started()) << slurp(log_);
    struct stat st{};
    ASSERT_TRUE(wait_for([&] { return stat((db_ + "-shm").c_str(), &st) == 0; }, 5000ms)) << slurp(log_);
    EXPECT_GT(posix_locks(daemon_, st.st_ino), 0) << "the daemon holds no lock on " << db_ << "-shm";
    for (int i = 0; i < 20; ++i) (void)report();
    EXPECT_EQ(daemon_state(), "the daemon is running\n") << slurp(log_);
    EXPECT_GE(stop(), 0);
    EXPECT_TRUE(WIFEXITED(status_) && WEXITSTATUS(status_) == 0) << "wait status " << status_ << "\n" << slurp(log_);
}

}  // namespace
