// Hardening: apply racing apply, apply killed at random points, and bad input
// that must be refused with a clear error while the previous policy stays in
// force. Two policies are used throughout:
//   A: byport/!741 granted to alice, reserve/tcp/7741 alice's
//   B: byport/!742 granted to bob,   reserve/tcp/7742 bob's
// and which one the kernel enforces is read from bind verdicts (see verdict()).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "sandbox.hpp"

using sandbox::Creds;
using sandbox::Sandbox;
namespace fs = std::filesystem;

namespace {

const Creds kAlice{51000, 51000, {}};
const Creds kBob{51001, 51001, {}};
const Creds kCarol{51002, 51002, {}};

enum class Enforced { none, a, b, mixed };

const char* name(Enforced e) {
    switch (e) {
        case Enforced::none: return "none";
        case Enforced::a: return "A";
        case Enforced::b: return "B";
        default: return "a mix of A and B";
    }
}

struct Summary {
    int rule_count = -1;
    std::set<std::string> entries;
};

// The rule count and the entry names from `portauth status --json`.
Summary summarize(const std::string& json) {
    Summary s;
    std::smatch m;
    if (std::regex_search(json, m, std::regex("\"rule_count\":\\s*([0-9]+)"))) s.rule_count = std::stoi(m[1]);
    const std::regex entry("\"entry\":\\s*\"([^\"]*)\"");
    for (auto it = std::sregex_iterator(json.begin(), json.end(), entry); it != std::sregex_iterator(); ++it)
        s.entries.insert((*it)[1]);
    return s;
}

// Every file and dir under `dir` with its mode and owner: "nothing changed".
std::string snapshot(const std::string& dir) {
    std::string out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
        struct stat st;
        if (lstat(it->path().c_str(), &st) != 0) continue;
        out += it->path().string() + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + " " +
               std::to_string(st.st_size) + "\n";
    }
    return out;
}

class Hardening : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF)";
        a_ = sb.make_policy_dir("policy-a");
        b_ = sb.make_policy_dir("policy-b");
        fill_a(a_);
        sb.entry_in(b_, "byport/!742", 0, 0, 0500, "u:51001:x,m::x");
        sb.entry_in(b_, "reserve/tcp/7742", 0, 0, 0400, "u:51001:x,m::x");
    }

    void fill_a(const std::string& dir) {
        sb.entry_in(dir, "byport/!741", 0, 0, 0500, "u:51000:x,m::x");
        sb.entry_in(dir, "reserve/tcp/7741", 0, 0, 0400, "u:51000:x,m::x");
    }

    std::vector<std::string> apply_argv(const std::string& dir) const {
        return {PORTAUTH_BIN, "apply", "--policy-dir", dir, "--pin-dir", sb.pin_dir(), "--cgroup", sb.cgroup()};
    }

    sandbox::ToolResult apply(const std::string& dir) const { return sandbox::run(apply_argv(dir)); }

    // Starts argv with stdout and stderr to `log`; the child waits until every copy of
    // the pipe's write end `go_write` is closed (its own copy it closes first).
    static pid_t spawn(const std::vector<std::string>& argv, const std::string& log, int go = -1, int go_write = -1,
                       const std::string& crash_at = "") {
        const pid_t pid = fork();
        if (pid != 0) return pid;
        if (!crash_at.empty()) setenv("PORTAUTH_TEST_CRASH_AT", crash_at.c_str(), 1);
        if (go_write >= 0) close(go_write);
        if (go >= 0) {
            char c;
            while (read(go, &c, 1) < 0 && errno == EINTR) {
            }
        }
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }

    static int wait_status(pid_t pid) {
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }

    static std::string slurp(const std::string& path) {
        std::ifstream in(path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    // Which policy the kernel enforces for one address family, from four binds.
    Enforced verdict_for(const std::string& wildcard) const {
        const bool alice_741 = sb.bind(kAlice, "tcp", wildcard, 741) == 0;
        const bool bob_742 = sb.bind(kBob, "tcp", wildcard, 742) == 0;
        const bool carol_7741 = sb.bind(kCarol, "tcp", wildcard, 7741) == 0;
        const bool carol_7742 = sb.bind(kCarol, "tcp", wildcard, 7742) == 0;
        if (alice_741 && !carol_7741 && !bob_742 && carol_7742) return Enforced::a;
        if (bob_742 && !carol_7742 && !alice_741 && carol_7741) return Enforced::b;
        if (!alice_741 && !bob_742 && carol_7741 && carol_7742) return Enforced::none;
        return Enforced::mixed;
    }

    // Which policy the kernel enforces: the bind4 and the bind6 programs must agree.
    Enforced verdict() const {
        const Enforced v4 = verdict_for("0.0.0.0"), v6 = verdict_for("::");
        return v4 == v6 ? v4 : Enforced::mixed;
    }

    Summary status() const {
        auto r = sandbox::run({PORTAUTH_BIN, "status", "--json", "--pin-dir", sb.pin_dir()});
        return summarize(r.out);
    }

    // No pins left: the pin dir is gone or empty.
    bool no_pins() const {
        std::error_code ec;
        return !fs::exists(sb.pin_dir(), ec) || fs::is_empty(sb.pin_dir(), ec);
    }

    Sandbox sb;
    std::string a_, b_;
};

// (a) Two applies of different trees, released at the same moment, ten
// times: both succeed (the pin dir lock serialises them) and what is loaded
// afterwards is one whole policy: its rules, its entries, its verdicts.
TEST_F(Hardening, ApplyRacingApplySerialises) {
    ASSERT_EQ(apply(a_).status, 0);
    const Summary sum_a = status();
    ASSERT_EQ(verdict(), Enforced::a);
    ASSERT_EQ(apply(b_).status, 0);
    const Summary sum_b = status();
    ASSERT_EQ(verdict(), Enforced::b);
    ASSERT_GT(sum_a.rule_count, 0);
    ASSERT_FALSE(sum_a.entries.empty());
    ASSERT_NE(sum_a.entries, sum_b.entries);

    for (int round = 0; round < 10; ++round) {
        int go[2];
        ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
        const std::string log_a = sb.tmp() + "/race-a.log", log_b = sb.tmp() + "/race-b.log";
        const pid_t pa = spawn(apply_argv(a_), log_a, go[0], go[1]);
        const pid_t pb = spawn(apply_argv(b_), log_b, go[0], go[1]);
        close(go[0]);
        close(go[1]);   // both start now
        EXPECT_EQ(wait_status(pa), 0) << "round " << round << ": " << slurp(log_a);
        EXPECT_EQ(wait_status(pb), 0) << "round " << round << ": " << slurp(log_b);

        const Summary now = status();
        const Enforced e = verdict();
        const bool is_a = now.rule_count == sum_a.rule_count && now.entries == sum_a.entries;
        const bool is_b = now.rule_count == sum_b.rule_count && now.entries == sum_b.entries;
        EXPECT_TRUE(is_a || is_b) << "round " << round << ": rule_count " << now.rule_count;
        EXPECT_EQ(e, is_a ? Enforced::a : Enforced::b) << "round " << round << ": status says " << (is_a ? "A" : "B")
                                                       << ", binds say " << name(e);
    }
    EXPECT_EQ(sandbox::run({PORTAUTH_BIN, "unload", "--pin-dir", sb.pin_dir()}).status, 0);
    EXPECT_TRUE(no_pins());
}

// (b) apply killed with SIGKILL at a random point, alternating the trees:
// the kernel enforces the old policy or the new one, never neither and never
// a mix; a later apply and unload succeed and leave no pins.
TEST_F(Hardening, ApplyKilledAtRandomPointsLeavesOldOrNew) {
    ASSERT_EQ(apply(a_).status, 0);
    ASSERT_EQ(verdict(), Enforced::a);
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> delay_ms(0, 300);
    Enforced before = Enforced::a;
    for (int round = 0; round < 15; ++round) {
        const bool to_b = round % 2 == 0;
        const int ms = delay_ms(rng);
        const pid_t pid = spawn(apply_argv(to_b ? b_ : a_), sb.tmp() + "/killed.log");
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        kill(pid, SIGKILL);
        const int st = wait_status(pid);
        const Enforced e = verdict();
        const Enforced target = to_b ? Enforced::b : Enforced::a;
        EXPECT_TRUE(e == before || e == target)
            << "round " << round << ": killed after " << ms << " ms (status " << st << "); before " << name(before)
            << ", applying " << name(target) << ", now " << name(e);
        if (st == 0) {
            EXPECT_EQ(e, target) << "round " << round << ": apply finished, but its policy is not enforced";
        }
        if (e == Enforced::a || e == Enforced::b) before = e;
    }
    auto r = apply(b_);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(verdict(), Enforced::b);
    r = sandbox::run({PORTAUTH_BIN, "unload", "--pin-dir", sb.pin_dir()});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(no_pins()) << snapshot(sb.pin_dir());
    EXPECT_EQ(verdict(), Enforced::none);
}

// How many BPF programs run for binds of one family in the sandbox's cgroup.
size_t programs_on(const std::string& cgroup, bpf_attach_type type) {
    const int fd = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 999;
    __u32 ids[16], count = 16;
    const int r = bpf_prog_query(fd, type, BPF_F_QUERY_EFFECTIVE, nullptr, ids, &count);
    close(fd);
    return r == 0 ? count : 999;
}

// (b') apply killed (by fault injection, PORTAUTH_TEST_CRASH_AT) right after
// each step of the switch from A to B: before the gate switches, A alone is
// enforced; from the switch on, B alone - in both families, never neither,
// never a mix. status says an apply was interrupted; the next apply (even
// steps) or unload (odd steps) cleans up: no staged pins, one program per
// family, or none after unload.
TEST_F(Hardening, ApplyKilledAfterEachStepLeavesOldOrNewAndRecovers) {
    const struct {
        const char* step;
        Enforced expect;
    } steps[] = {{"maps-staged", Enforced::a},        {"links-staged", Enforced::a},
                 {"switched", Enforced::b},           {"old-bind4-detached", Enforced::b},
                 {"link_bind4-renamed", Enforced::b}, {"old-bind6-detached", Enforced::b},
                 {"link_bind6-renamed", Enforced::b}, {"counters-renamed", Enforced::b},
                 {"rule_names-renamed", Enforced::b}, {"meta-renamed", Enforced::b}};
    int i = 0;
    for (const auto& [step, expect] : steps) {
        SCOPED_TRACE(std::string("killed after ") + step);
        auto r = apply(a_);
        ASSERT_EQ(r.status, 0) << r.err;
        ASSERT_EQ(verdict(), Enforced::a);
        const std::string log = sb.tmp() + "/crash.log";
        const int st = wait_status(spawn(apply_argv(b_), log, -1, -1, step));
        ASSERT_EQ(st, 128 + SIGKILL) << "the apply was not killed at this step (no such step?): " << slurp(log);
        EXPECT_EQ(verdict(), expect) << "now " << name(verdict());
        EXPECT_EQ(programs_on(sb.cgroup(), BPF_CGROUP_INET4_BIND) >= 1, true);
        const auto status_json = sandbox::run({PORTAUTH_BIN, "status", "--json", "--pin-dir", sb.pin_dir()});
        EXPECT_NE(status_json.out.find("\"active\":true"), std::string::npos) << status_json.out;
        if (std::string(step) != "meta-renamed") {
            EXPECT_NE(status_json.out.find("interrupted"), std::string::npos) << status_json.out;
        }

        if (i++ % 2 == 0) {
            r = apply(a_);
            ASSERT_EQ(r.status, 0) << r.err;
            EXPECT_EQ(verdict(), Enforced::a);
            EXPECT_EQ(programs_on(sb.cgroup(), BPF_CGROUP_INET4_BIND), 1u);
            EXPECT_EQ(programs_on(sb.cgroup(), BPF_CGROUP_INET6_BIND), 1u);
            const auto after = sandbox::run({PORTAUTH_BIN, "status", "--json", "--pin-dir", sb.pin_dir()});
            EXPECT_EQ(after.out.find("problem"), std::string::npos) << after.out;
            for (const auto& e : fs::directory_iterator(sb.pin_dir()))
                EXPECT_EQ(e.path().string().find("_new"), std::string::npos) << "left behind: " << e.path();
        } else {
            r = sandbox::run({PORTAUTH_BIN, "unload", "--pin-dir", sb.pin_dir()});
            ASSERT_EQ(r.status, 0) << r.err;
            EXPECT_TRUE(no_pins()) << snapshot(sb.pin_dir());
            EXPECT_EQ(verdict(), Enforced::none);
            EXPECT_EQ(programs_on(sb.cgroup(), BPF_CGROUP_INET4_BIND), 0u);
            EXPECT_EQ(programs_on(sb.cgroup(), BPF_CGROUP_INET6_BIND), 0u);
        }
    }
    EXPECT_EQ(sandbox::run({PORTAUTH_BIN, "unload", "--pin-dir", sb.pin_dir()}).status, 0);
    EXPECT_TRUE(no_pins());
}

// (c) Bad input: a clear error naming the file (or the spec), exit 111 or
// 100, the tree untouched by the refused command and policy A still enforced.
class HardeningBadInput : public Hardening {
protected:
    void SetUp() override {
        Hardening::SetUp();
        if (IsSkipped()) return;
        fill_a(sb.policy_dir());
        ASSERT_EQ(sb.apply().status, 0);
        ASSERT_EQ(verdict(), Enforced::a);
        rules_ = status().rule_count;
    }

    // Runs the command that must be refused; checks the error and that nothing changed.
    void expect_refused(const std::string& what, const sandbox::ToolResult& r, const std::string& named) {
        EXPECT_TRUE(r.status == 111 || r.status == 100) << what << ": exit " << r.status << "\n" << r.err;
        EXPECT_NE(r.err.find(named), std::string::npos) << what << ": the error does not name '" << named << "':\n" << r.err;
        EXPECT_EQ(verdict(), Enforced::a) << what;
        EXPECT_EQ(status().rule_count, rules_) << what;
    }

    // A bad entry: created, apply refused, removed again.
    void bad_entry(const std::string& rel, uint32_t uid, mode_t mode, const std::string& content = "") {
        sb.entry(rel, uid, 0, mode, "", content);
        expect_refused(rel, sb.apply(), sb.policy_dir() + "/" + rel);
        sb.remove(rel);
    }

    void bad_command(std::vector<std::string> args, const std::string& named, bool reserve = false) {
        const std::string before = snapshot(sb.policy_dir());
        const auto r = reserve ? sb.portreserve(args) : sb.portauth(args);
        expect_refused(args[0] + " " + args[1], r, named);
        EXPECT_EQ(snapshot(sb.policy_dir()), before) << args[0] << " " << args[1] << " changed the tree";
    }

    int rules_ = -1;
};

// An entry that group or other can change costs that entry alone: apply
// goes on with it disabled (exit 2, naming it) and policy A stays enforced.
// A byuid file is root's structure: still refused as a whole.
TEST_F(HardeningBadInput, GroupOrWorldWritableEntriesAreDisabledAlone) {
    for (auto [rel, mode] : {std::pair{"byport/7743", 0520}, std::pair{"byport/7744", 0502}, std::pair{"reserve/tcp/7745", 0460}}) {
        sb.entry(rel, 0, 0, static_cast<mode_t>(mode));
        const auto r = sb.apply();
        EXPECT_EQ(r.status, 2) << rel << ": exit " << r.status << "\n" << r.err;
        EXPECT_NE(r.err.find(sb.policy_dir() + "/" + rel), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("disabled"), std::string::npos) << r.err;
        EXPECT_EQ(verdict(), Enforced::a) << rel;
        EXPECT_EQ(status().rule_count, rules_ + 1) << rel;
        sb.remove(rel);
        ASSERT_EQ(sb.apply().status, 0);
    }
    bad_entry("byuid/51000", 0, 0646, "127.0.0.1,7746\n");
}

TEST_F(HardeningBadInput, Symlinks) {
    const std::string link = sb.policy_dir() + "/byport/7747";
    ASSERT_EQ(symlink((sb.policy_dir() + "/byport/!741").c_str(), link.c_str()), 0);
    expect_refused("symlink", sb.apply(), link);
    unlink(link.c_str());
    const std::string dirlink = sb.policy_dir() + "/byaddr";
    ASSERT_EQ(symlink((sb.policy_dir() + "/byport").c_str(), dirlink.c_str()), 0);
    expect_refused("symlinked dir", sb.apply(), dirlink);
    unlink(dirlink.c_str());
}

TEST_F(HardeningBadInput, NonRootOwnedDirs) {
    const std::string dir = sb.policy_dir() + "/byport";
    ASSERT_EQ(chown(dir.c_str(), kAlice.uid, 0), 0);
    expect_refused("byport owned by alice", sb.apply(), dir);
    ASSERT_EQ(chown(dir.c_str(), 0, 0), 0);
    // byuid files and portauth.conf must be root's
    bad_entry("byuid/51000", kAlice.uid, 0644, "127.0.0.1,7748\n");
    bad_entry("portauth.conf", kAlice.uid, 0644, "root-exempt = no\n");
}

TEST_F(HardeningBadInput, PortsZeroAnd65536InLeafNames) {
    for (const char* rel : {"byport/0", "byport/65536", "byport/080", "byaddr/127.0.0.1,0", "byaddr/127.0.0.1:65536",
                            "reserve/tcp/0", "reserve/udp/65536", "reserve/tcp/0-80", "reserve/tcp/7749-65536", "byuid/4294967295"})
        bad_entry(rel, 0, 0500);
    bad_entry("byuid/51000", 0, 0644, "127.0.0.1,0\n");
    bad_entry("byuid/51000", 0, 0644, "127.0.0.1,1-65536\n");
}

TEST_F(HardeningBadInput, MalformedAddresses) {
    for (const char* rel : {"byaddr/127.0.0.256,7750", "byaddr/1.2.3,7750", "byaddr/::g,7750", "byaddr/[::1],7750",
                            "byaddr/::1:7750", "reserve/tcp/7750@1.2.3", "reserve/tcp/7750@::1", "reserve/tcp/7750@0.0.0.0"})
        bad_entry(rel, 0, 0500);
    for (const char* line : {"1.2.3.4.5,7750\n", "10.0.0.1/8,7750\n", "::1/129,7750\n", "[::1],7750\n", "1.2.3.4-::1,7750\n"})
        bad_entry("byuid/51000", 0, 0644, line);
}

TEST_F(HardeningBadInput, BadSpecsOnTheCommandLine) {
    bad_command({"allow", "0", "51000"}, "'0'");
    bad_command({"allow", "65536", "51000"}, "'65536'");
    bad_command({"allow", "7751@1.2.3.256", "51000"}, "1.2.3.256");
    bad_command({"allow", "7751@::1", "51000"}, "::1");
    bad_command({"add", "tcp/0", "51000"}, "tcp/0", true);
    bad_command({"add", "udp/65536", "51000"}, "udp/65536", true);
    bad_command({"add", "tcp/7752@[::g]", "51000"}, "::g", true);
    bad_command({"add", "tcp/7752-7751", "51000"}, "7752-7751", true);
}

TEST_F(HardeningBadInput, UnknownUsersAndGroups) {
    bad_command({"allow", "7753", "no-such-user-portauth"}, "no-such-user-portauth");
    bad_command({"allow", "7753", "%no-such-group-portauth"}, "no-such-group-portauth");
    bad_command({"allow", "7753", "4294967295"}, "4294967295");
    bad_command({"add", "tcp/7753", "no-such-user-portauth"}, "no-such-user-portauth", true);
}

TEST_F(HardeningBadInput, EnormousByuidFile) {
    std::string big;
    while (big.size() <= 1024 * 1024) big += "# padding padding padding padding padding padding padding\n";
    big += "127.0.0.1,7754\n";
    bad_entry("byuid/51000", 0, 0644, big);
    std::string many;
    for (int i = 0; i < 10001; ++i) many += "127.0.0.1,7754\n";
    bad_entry("byuid/51000", 0, 0644, many);
    bad_entry("byuid/51000", 0, 0644, std::string(600, '1') + "\n");
}

TEST_F(HardeningBadInput, PolicyDirUnderADirWritableByOthers) {
    // A non-sticky world-writable ancestor, then one owned by a user.
    const std::string open_dir = sb.tmp() + "/open";
    ASSERT_EQ(mkdir(open_dir.c_str(), 0755), 0);
    ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
    const std::string inside = open_dir + "/policy";
    ASSERT_EQ(mkdir(inside.c_str(), 0755), 0);
    fill_a(inside);
    expect_refused("under a world-writable dir", apply(inside), open_dir);
    ASSERT_EQ(chmod(open_dir.c_str(), 0755), 0);
    ASSERT_EQ(chown(open_dir.c_str(), kAlice.uid, kAlice.gid), 0);
    expect_refused("under alice's dir", apply(inside), open_dir);
    ASSERT_EQ(chown(open_dir.c_str(), 0, 0), 0);
    // And the policy dir itself writable by others.
    ASSERT_EQ(chmod(inside.c_str(), 0777), 0);
    expect_refused("world-writable policy dir", apply(inside), inside);
}

}  // namespace
