// dropto as a user runs it: the built binary, fork/exec'd as root, running real
// programs that report what they got (/proc/self/status, /proc/self/stat, id, env).
//
// Nothing is left behind: the test process moves into a private mount namespace,
// mounts a tmpfs on a private dir under /tmp and bind-mounts copies of /etc/passwd and /etc/group that
// carry the test users (uids 51000-59999). The mounts vanish with the process, even
// when a test crashes (then only the empty private dir stays); the real /etc is never written.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

// When this binary is run *by dropto* with DROPTO_TEST_PROBE=fds, it prints the
// descriptors it was handed and exits, before any test machinery starts. Listing
// with fcntl opens nothing, so the answer is exact.
const bool kProbe = [] {
    const char* probe = std::getenv("DROPTO_TEST_PROBE");
    if (!probe || std::string(probe) != "fds") return false;
    for (int fd = 0; fd < 1024; ++fd)
        if (fcntl(fd, F_GETFD) >= 0) std::printf("%d\n", fd);
    std::fflush(stdout);
    _exit(0);
}();

constexpr uid_t kUser = 51001;        // dropto-t1, primary group dropto-g1
constexpr gid_t kGroup1 = 51001;      // dropto-g1
constexpr gid_t kGroup2 = 51002;      // dropto-g2, lists dropto-t1
constexpr gid_t kGroup3 = 51003;      // dropto-g3, lists dropto-t1
constexpr uid_t kBareUid = 51500;     // no passwd entry
constexpr gid_t kBareGid = 51501;     // no group entry
const char* const kUserName = "dropto-t1";
const char* const kUserHome = "/home/dropto-t1";

constexpr int kCapNetBindService = 10;

struct Outcome {
    int status = -1;  // exit code, or 128 + signal
    std::string out;
    std::string err;
};

// How to start dropto: its arguments, its environment, and what the child does
// (as root) just before exec'ing it.
struct Launch {
    std::vector<std::string> args;
    std::vector<std::string> env{"PATH=/usr/bin:/bin", "HOME=/root", "USER=root", "LOGNAME=root",
                                 "DROPTO_TEST_MARK=kept as is", "EMPTY="};
    std::function<void()> before_exec;
    std::string binary = DROPTO_BIN;
    bool stdin_tty = false;  // fd 0 is a pty that is the child's controlling terminal
};

[[noreturn]] void die(const char* what) {
    dprintf(2, "test child: %s: %s\n", what, std::strerror(errno));
    _exit(99);
}

void exec_binary(const Launch& launch) {
    std::vector<char*> argv{const_cast<char*>(launch.binary.c_str())};
    for (const auto& a : launch.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : launch.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    execve(launch.binary.c_str(), argv.data(), envp.data());
    die("execve");
}

// With stdin_tty: become a session leader, take a pty as controlling terminal on
// fd 0, and run dropto in a grandchild - a member of that session that leads no
// process group, as under a login shell without job control.
void run_with_terminal(const Launch& launch) {
    if (setsid() < 0) die("setsid");
    const int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) die("posix_openpt");
    const int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    if (slave < 0) die("open pty");
    if (ioctl(slave, TIOCSCTTY, 0) != 0) die("TIOCSCTTY");
    if (dup2(slave, 0) < 0) die("dup2");
    close(slave);
    const pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (launch.before_exec) launch.before_exec();
        exec_binary(launch);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) die("waitpid");
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

Outcome launch(const Launch& launch) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) die("dup2");
        if (launch.stdin_tty) run_with_terminal(launch);
        if (launch.before_exec) launch.before_exec();
        exec_binary(launch);
    }
    close(out[1]);
    close(err[1]);
    Outcome outcome;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&outcome.out, &outcome.err};
    int open_pipes = 2;
    while (open_pipes > 0) {
        const int ready = poll(fds, 2, 30000);
        if (ready <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            char buffer[4096];
            const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0) {
                sinks[i]->append(buffer, static_cast<size_t>(n));
            } else {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    int status = 0;
    waitpid(pid, &status, 0);
    outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return outcome;
}

Outcome dropto(std::vector<std::string> args, std::function<void()> before_exec = {}) {
    Launch l;
    l.args = std::move(args);
    l.before_exec = std::move(before_exec);
    return launch(l);
}

// "Uid:\t1\t1\t1\t1" -> {"Uid": "1\t1\t1\t1"}
std::map<std::string, std::string> parse_status(const std::string& text) {
    std::map<std::string, std::string> fields;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        value.erase(value.find_last_not_of(" \t") + 1);
        fields[line.substr(0, colon)] = value;
    }
    return fields;
}

std::string ids(unsigned id) {
    const auto s = std::to_string(id);
    return s + "\t" + s + "\t" + s + "\t" + s;
}

std::set<std::string> words(const std::string& text) {
    std::set<std::string> set;
    std::istringstream in(text);
    for (std::string w; in >> w;) set.insert(w);
    return set;
}

std::set<std::string> lines(const std::string& text) {
    std::set<std::string> set;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) set.insert(l);
    return set;
}

// Fields of /proc/<pid>/stat after the command name, which may hold spaces: [0] is
// the state, [3] the session id, [4] tty_nr.
std::vector<std::string> stat_fields(const std::string& stat) {
    std::vector<std::string> fields;
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    for (std::string f; in >> f;) fields.push_back(f);
    return fields;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_text(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    if (chmod(path.c_str(), mode) != 0) throw std::runtime_error("chmod " + path);
}

// In a child, as root: become a plain user (no capabilities left).
void become(uid_t uid, gid_t gid, std::vector<gid_t> groups) {
    if (setgroups(groups.size(), groups.data()) != 0) die("setgroups");
    if (setresgid(gid, gid, gid) != 0) die("setresgid");
    if (setresuid(uid, uid, uid) != 0) die("setresuid");
}

// In a child: take capability `cap` out of the bounding set, so that root's exec of
// dropto does not get it back.
void drop_capability(int cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) die("PR_CAPBSET_DROP");
}

// In a child: an inheritable and ambient CAP_NET_BIND_SERVICE, and a kernel told not
// to clear capabilities on a uid change - so only dropto's own clearing removes them.
void keep_capabilities_across_uid_change() {
    if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) != 0) die("PR_SET_SECUREBITS");
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0) die("capget");
    data[0].inheritable |= 1u << kCapNetBindService;
    if (syscall(SYS_capset, &header, data) != 0) die("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, kCapNetBindService, 0, 0) != 0) die("ambient");
}

// The tmpfs the private world keeps its files in.
std::string g_world;

// The private world the tests run in; see the comment at the top.
class PrivateWorld : public ::testing::Environment {
public:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "dropto's integration tests need root";
        check(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
        check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
        // A tmpfs on a fresh dir of its own, not on /tmp itself: the binaries under test
        // may live under /tmp (CI clones anywhere).
        char dir[] = "/tmp/dropto-world-XXXXXX";
        if (!mkdtemp(dir)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
        g_world = dir;
        check(mount("dropto-tests", g_world.c_str(), "tmpfs", 0, "mode=1777"), "mount tmpfs on the private dir");
        add_entries("/etc/passwd",
                    "dropto-t1:x:51001:51001:dropto test user:/home/dropto-t1:/usr/sbin/nologin\n");
        add_entries("/etc/group",
                    "dropto-g1:x:51001:\n"
                    "dropto-g2:x:51002:dropto-t1\n"
                    "dropto-g3:x:51003:someone-else,dropto-t1\n");
    }

    void TearDown() override {
        if (g_world.empty()) return;
        umount2(g_world.c_str(), MNT_DETACH);
        rmdir(g_world.c_str());
    }

private:
    static void check(int rc, const char* what) {
        if (rc != 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
    }
    // Bind-mount over `path` a copy with `extra` appended; the copy lives in the tmpfs.
    static void add_entries(const std::string& path, const std::string& extra) {
        const std::string copy = g_world + "/" + path.substr(path.rfind('/') + 1);
        write_text(copy, read_text(path) + extra, 0644);
        check(mount(copy.c_str(), path.c_str(), nullptr, MS_BIND, nullptr), "bind-mount passwd/group");
    }
};

const auto* const kWorld = ::testing::AddGlobalTestEnvironment(new PrivateWorld);

// A fresh directory in the private tmpfs.
std::string temp_dir(mode_t mode = 0755) {
    std::string path = g_world + "/dropto-XXXXXX";
    if (!mkdtemp(path.data())) throw std::runtime_error("mkdtemp");
    chmod(path.c_str(), mode);
    return path;
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// ---------------------------------------------------------------------------------

TEST(DroptoIdentity, NamedUserGetsItsIdsAndGroupsAndNoCapabilities) {
    const auto r = dropto({kUserName, "cat", "/proc/self/status"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto status = parse_status(r.out);
    EXPECT_EQ(status.at("Uid"), ids(kUser));
    EXPECT_EQ(status.at("Gid"), ids(kGroup1));
    EXPECT_EQ(words(status.at("Groups")), (std::set<std::string>{"51001", "51002", "51003"}));
    EXPECT_EQ(status.at("CapInh"), "0000000000000000");
    EXPECT_EQ(status.at("CapPrm"), "0000000000000000");
    EXPECT_EQ(status.at("CapEff"), "0000000000000000");
    EXPECT_EQ(status.at("CapAmb"), "0000000000000000");
    EXPECT_EQ(status.at("CapBnd"), parse_status(read_text("/proc/self/status")).at("CapBnd"));
    EXPECT_EQ(status.at("NoNewPrivs"), "0");
}

TEST(DroptoIdentity, IdSeesTheUserAndItsGroups) {
    const auto r = dropto({kUserName, "id"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              "uid=51001(dropto-t1) gid=51001(dropto-g1) "
              "groups=51001(dropto-g1),51002(dropto-g2),51003(dropto-g3)\n");
    EXPECT_EQ(r.err, "");
}

TEST(DroptoIdentity, NoneOfRootsSupplementaryGroupsSurvive) {
    const auto root_with_groups = [] { become(0, 0, {0, 4, 27, 51234}); };
    const auto named = dropto({kUserName, "cat", "/proc/self/status"}, root_with_groups);
    ASSERT_EQ(named.status, 0) << named.err;
    EXPECT_EQ(words(parse_status(named.out).at("Groups")),
              (std::set<std::string>{"51001", "51002", "51003"}));

    const auto bare = dropto({"51500:51501", "cat", "/proc/self/status"}, root_with_groups);
    ASSERT_EQ(bare.status, 0) << bare.err;
    EXPECT_EQ(parse_status(bare.out).at("Groups"), "");
}

TEST(DroptoIdentity, NumericUidWithoutPasswdEntry) {
    const auto r = dropto({"51500:51501", "cat", "/proc/self/status"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto status = parse_status(r.out);
    EXPECT_EQ(status.at("Uid"), ids(kBareUid));
    EXPECT_EQ(status.at("Gid"), ids(kBareGid));
    EXPECT_EQ(status.at("Groups"), "");
    EXPECT_EQ(status.at("CapPrm"), "0000000000000000");
    EXPECT_EQ(status.at("CapEff"), "0000000000000000");

    const auto id = dropto({"51500:51501", "id"});
    EXPECT_EQ(id.out, "uid=51500 gid=51501 groups=51501\n");
}

TEST(DroptoIdentity, GroupReplacesThePrimaryGroup) {
    const auto r = dropto({"dropto-t1:dropto-g2", "cat", "/proc/self/status"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto status = parse_status(r.out);
    EXPECT_EQ(status.at("Uid"), ids(kUser));
    EXPECT_EQ(status.at("Gid"), ids(kGroup2));
    EXPECT_EQ(words(status.at("Groups")), (std::set<std::string>{"51002", "51003"}));
}

TEST(DroptoIdentity, ExplicitAndNoSupplementaryGroups) {
    const auto listed = dropto({"--groups", "dropto-g3,51777", kUserName, "cat", "/proc/self/status"});
    ASSERT_EQ(listed.status, 0) << listed.err;
    EXPECT_EQ(words(parse_status(listed.out).at("Groups")), (std::set<std::string>{"51003", "51777"}));

    const auto none = dropto({"--no-groups", kUserName, "cat", "/proc/self/status"});
    ASSERT_EQ(none.status, 0) << none.err;
    EXPECT_EQ(parse_status(none.out).at("Groups"), "");
    EXPECT_EQ(parse_status(none.out).at("Gid"), ids(kGroup1));
}

TEST(DroptoIdentity, AmbientAndInheritableCapabilitiesAreClearedEvenWhenTheKernelKeepsThem) {
    // Control: with these securebits a plain uid change keeps the capabilities.
    Launch control;
    control.binary = "/usr/bin/cat";
    control.args = {"/proc/self/status"};
    control.before_exec = [] {
        keep_capabilities_across_uid_change();
        if (setresuid(kBareUid, kBareUid, kBareUid) != 0) die("setresuid");
    };
    const auto kept = launch(control);
    ASSERT_EQ(kept.status, 0) << kept.err;
    ASSERT_NE(parse_status(kept.out).at("CapAmb"), "0000000000000000");
    ASSERT_NE(parse_status(kept.out).at("CapPrm"), "0000000000000000");

    const auto r = dropto({"51500:51501", "cat", "/proc/self/status"}, keep_capabilities_across_uid_change);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto status = parse_status(r.out);
    EXPECT_EQ(status.at("Uid"), ids(kBareUid));
    EXPECT_EQ(status.at("CapInh"), "0000000000000000");
    EXPECT_EQ(status.at("CapPrm"), "0000000000000000");
    EXPECT_EQ(status.at("CapEff"), "0000000000000000");
    EXPECT_EQ(status.at("CapAmb"), "0000000000000000");
}

TEST(DroptoIdentity, RootCannotBeRegained) {
    // The dropped program itself tries: setpriv asks for uid 0 and must fail.
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs setpriv(1) (util-linux)";
    const auto r = dropto({kUserName, "setpriv", "--reuid=0", "--regid=0", "--clear-groups", "id", "-u"});
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("setresuid failed"), std::string::npos) << r.err;
}

TEST(DroptoOptions, NoNewPrivs) {
    const auto with = dropto({"--no-new-privs", kUserName, "cat", "/proc/self/status"});
    ASSERT_EQ(with.status, 0) << with.err;
    EXPECT_EQ(parse_status(with.out).at("NoNewPrivs"), "1");
}

TEST(DroptoOptions, ClearBoundingSet) {
    const auto r = dropto({"--clear-bounding-set", kUserName, "cat", "/proc/self/status"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(parse_status(r.out).at("CapBnd"), "0000000000000000");
}

TEST(DroptoOptions, OptionsMayFollowUserButNothingAfterProgramIsParsed) {
    const auto between = dropto({kUserName, "--no-new-privs", "grep", "NoNewPrivs", "/proc/self/status"});
    ASSERT_EQ(between.status, 0) << between.err;
    EXPECT_EQ(between.out, "NoNewPrivs:\t1\n");

    const auto after = dropto({kUserName, "echo", "--setsid", "--help", "--", "-x"});
    ASSERT_EQ(after.status, 0) << after.err;
    EXPECT_EQ(after.out, "--setsid --help -- -x\n");

    const auto dashdash = dropto({"--", kUserName, "echo", "a"});
    EXPECT_EQ(dashdash.out, "a\n");
    const auto dashdash_late = dropto({kUserName, "--", "echo", "--keep-env"});
    EXPECT_EQ(dashdash_late.out, "--keep-env\n");
}

TEST(DroptoOptions, HelpAndVersion) {
    const auto help = dropto({"--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_EQ(help.out.rfind("Usage: dropto [OPTIONS] USER[:GROUP] PROGRAM [ARGS...]\n", 0), 0u) << help.out;
    for (const char* option : {"--groups", "--no-groups", "--keep-env", "--no-new-privs", "--setsid",
                               "--clear-bounding-set", "Examples:"})
        EXPECT_NE(help.out.find(option), std::string::npos) << option;

    const auto version = dropto({"--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.out, std::string("dropto ") + PORTAUTH_VERSION + "\n");
}

TEST(DroptoEnvironment, HomeUserLognameAreTheTargetsAndTheRestIsUntouched) {
    const auto r = dropto({kUserName, "env"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(lines(r.out), (std::set<std::string>{"PATH=/usr/bin:/bin", std::string("HOME=") + kUserHome,
                                                   "USER=dropto-t1", "LOGNAME=dropto-t1",
                                                   "DROPTO_TEST_MARK=kept as is", "EMPTY="}));
}

TEST(DroptoEnvironment, NumericUidGetsItsNumberAndRootAsHome) {
    const auto r = dropto({"51500:51501", "env"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto env = lines(r.out);
    EXPECT_TRUE(env.count("HOME=/"));
    EXPECT_TRUE(env.count("USER=51500"));
    EXPECT_TRUE(env.count("LOGNAME=51500"));
    EXPECT_TRUE(env.count("DROPTO_TEST_MARK=kept as is"));
}

TEST(DroptoEnvironment, KeepEnvLeavesThemAlone) {
    Launch l;
    l.args = {"--keep-env", kUserName, "env"};
    l.env = {"PATH=/usr/bin:/bin", "HOME=/root", "USER=root", "DROPTO_TEST_MARK=x"};  // no LOGNAME
    const auto r = launch(l);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(lines(r.out), (std::set<std::string>{"PATH=/usr/bin:/bin", "HOME=/root", "USER=root",
                                                   "DROPTO_TEST_MARK=x"}));
}

TEST(DroptoExitCodes, UsageIs100) {
    struct Case {
        std::vector<std::string> args;
        const char* message;
    };
    for (const Case& c : std::vector<Case>{
             {{}, "dropto: USER[:GROUP] is required"},
             {{kUserName}, "dropto: missing PROGRAM"},
             {{"--bogus", kUserName, "id"}, "--bogus"},
             {{"dropto-no-such-user", "id"}, "dropto: unknown user 'dropto-no-such-user'\n"},
             {{"dropto-t1:dropto-no-such-group", "id"}, "dropto: unknown group 'dropto-no-such-group'\n"},
             {{"--groups", "dropto-g2,dropto-nope", kUserName, "id"}, "unknown group 'dropto-nope'"},
             {{"51500", "id"}, "has no passwd entry"},
             {{"a:b:c", "id"}, "more than one ':'"},
             {{"--groups", "x", "--no-groups", kUserName, "id"}, "dropto: "},
         }) {
        const auto r = dropto(c.args);
        EXPECT_EQ(r.status, 100) << c.message;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
        EXPECT_EQ(r.out, "");
    }
}

TEST(DroptoExitCodes, FailedSystemCallIs111AndNothingRuns) {
    const std::string dir = temp_dir(0777);
    const std::string marker = dir + "/ran";

    const auto no_setgid = dropto({kUserName, "touch", marker}, [] { drop_capability(CAP_SETGID); });
    EXPECT_EQ(no_setgid.status, 111);
    EXPECT_EQ(no_setgid.err, "dropto: setgroups for user 'dropto-t1' (uid 51001): Operation not permitted\n");
    EXPECT_FALSE(exists(marker));

    const auto no_setuid = dropto({kUserName, "touch", marker}, [] { drop_capability(CAP_SETUID); });
    EXPECT_EQ(no_setuid.status, 111);
    EXPECT_EQ(no_setuid.err, "dropto: setresuid for user 'dropto-t1' (uid 51001): Operation not permitted\n");
    EXPECT_FALSE(exists(marker));

    // Control: with its capabilities, the same command does run.
    const auto works = dropto({kUserName, "touch", marker});
    EXPECT_EQ(works.status, 0) << works.err;
    EXPECT_TRUE(exists(marker));
}

TEST(DroptoExitCodes, NotExecutableIs126NotFoundIs127) {
    const std::string dir = temp_dir();
    const std::string script = dir + "/root-only";
    write_text(script, "#!/bin/sh\necho ran\n", 0700);
    const auto as_root = dropto({"root", script});  // root may run it...
    EXPECT_EQ(as_root.out, "ran\n");
    const auto dropped = dropto({kUserName, script});  // ...the dropped user may not
    EXPECT_EQ(dropped.status, 126);
    EXPECT_EQ(dropped.err, "dropto: cannot execute '" + script + "': Permission denied\n");
    EXPECT_EQ(dropped.out, "");

    EXPECT_EQ(dropto({kUserName, "/etc/passwd"}).status, 126);

    const auto missing = dropto({kUserName, "dropto-no-such-program"});
    EXPECT_EQ(missing.status, 127);
    EXPECT_EQ(missing.err, "dropto: cannot execute 'dropto-no-such-program': No such file or directory\n");
}

TEST(DroptoTerminal, SetsidLeavesTheControllingTerminalBehind) {
    Launch with_terminal;
    with_terminal.stdin_tty = true;
    with_terminal.args = {kUserName, "cat", "/proc/self/stat"};
    const auto kept = launch(with_terminal);
    ASSERT_EQ(kept.status, 0) << kept.err;
    EXPECT_NE(stat_fields(kept.out).at(4), "0") << "without --setsid the pty stays the ctty";

    const std::string legacy = read_text("/proc/sys/dev/tty/legacy_tiocsti");
    if (legacy.empty() || legacy[0] != '0')
        EXPECT_EQ(kept.err,
                  "dropto: warning: fd 0 is a terminal user 'dropto-t1' (uid 51001) could push "
                  "keystrokes into (TIOCSTI, CVE-2016-2779); use --setsid\n");
    else
        EXPECT_EQ(kept.err, "");

    with_terminal.args = {"--setsid", kUserName, "cat", "/proc/self/stat"};
    const auto detached = launch(with_terminal);
    ASSERT_EQ(detached.status, 0) << detached.err;
    const auto fields = stat_fields(detached.out);
    EXPECT_EQ(fields.at(4), "0") << "tty_nr";
    EXPECT_EQ(detached.err, "");
    // It leads its own session: the session id is its pid.
    EXPECT_EQ(fields.at(3), detached.out.substr(0, detached.out.find(' ')));
}

TEST(DroptoTerminal, SetsidAsAProcessGroupLeader) {
    // Leading a group, without a terminal (as under a supervisor): accepted.
    const auto quiet = dropto({"--setsid", kUserName, "cat", "/proc/self/stat"}, [] {
        if (setpgid(0, 0) != 0) die("setpgid");
    });
    ASSERT_EQ(quiet.status, 0) << quiet.err;
    EXPECT_EQ(stat_fields(quiet.out).at(4), "0");

    // Leading a group in a session with a terminal (an interactive shell's job): refused.
    Launch job;
    job.stdin_tty = true;
    job.args = {"--setsid", kUserName, "id"};
    job.before_exec = [] {
        if (setpgid(0, 0) != 0) die("setpgid");
    };
    const auto refused = launch(job);
    EXPECT_EQ(refused.status, 111);
    EXPECT_NE(refused.err.find("setsid --fork --wait"), std::string::npos) << refused.err;
    EXPECT_EQ(refused.out, "");
}

TEST(DroptoUnprivileged, CannotDropToAnotherUser) {
    const auto r = dropto({kUserName, "id"}, [] { become(kBareUid, kBareGid, {}); });
    EXPECT_EQ(r.status, 100);
    EXPECT_EQ(r.err,
              "dropto: not running as root (uid 51500): cannot become user 'dropto-t1' (uid 51001); "
              "only dropping to the current identity is allowed\n");
    EXPECT_EQ(r.out, "");

    const auto groups = dropto({"51500:51501", "id"}, [] { become(kBareUid, kBareGid, {kGroup2}); });
    EXPECT_EQ(groups.status, 100);
    EXPECT_NE(groups.err.find("cannot change the supplementary groups"), std::string::npos) << groups.err;
}

TEST(DroptoUnprivileged, DroppingToItselfIsAPlainExec) {
    const auto bare = dropto({"51500:51501", "id"}, [] { become(kBareUid, kBareGid, {}); });
    EXPECT_EQ(bare.status, 0) << bare.err;
    EXPECT_EQ(bare.out, "uid=51500 gid=51501 groups=51501\n");

    const auto named = dropto({kUserName, "id", "-u"},
                              [] { become(kUser, kGroup1, {kGroup1, kGroup2, kGroup3}); });
    EXPECT_EQ(named.status, 0) << named.err;
    EXPECT_EQ(named.out, "51001\n");
}

TEST(DroptoUnprivileged, SetuidOrSetgidCopyRefusesToRun) {
    const std::string dir = temp_dir();
    const std::string copy = dir + "/dropto";
    write_text(copy, read_text(DROPTO_BIN), 0755);
    ASSERT_EQ(chown(copy.c_str(), 0, 0), 0);

    Launch l;
    l.binary = copy;
    l.args = {"51500:51501", "id"};
    l.before_exec = [] { become(kBareUid, kBareGid, {}); };

    // Control: the plain copy lets the user drop to itself.
    const auto plain = launch(l);
    ASSERT_EQ(plain.status, 0) << plain.err;
    ASSERT_EQ(plain.out, "uid=51500 gid=51501 groups=51501\n");

#ifdef __SANITIZE_ADDRESS__
    // In the ASan build LeakSanitizer cannot inspect a setgid-only process
    // (non-dumpable, not root) and exits 1 after dropto refused; it does not
    // read ASAN_OPTIONS under AT_SECURE. The plain build checks that mode.
    const mode_t modes[] = {04755, 06755};
#else
    const mode_t modes[] = {04755, 02755, 06755};
#endif
    for (mode_t mode : modes) {
        ASSERT_EQ(chmod(copy.c_str(), mode), 0);
        const auto r = launch(l);
        EXPECT_EQ(r.status, 100) << std::oct << mode << "\n" << r.err;
        EXPECT_NE(r.err.find("dropto: refusing to run"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("AT_SECURE"), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "");
    }
}

TEST(DroptoDescriptors, InheritedOnesPassThroughAndNoneOfDroptosOwnLeak) {
    char exe[4096] = {};
    ASSERT_GT(readlink("/proc/self/exe", exe, sizeof exe - 1), 0);

    Launch l;
    l.args = {kUserName, exe};
    l.env.push_back("DROPTO_TEST_PROBE=fds");
    l.before_exec = [] {
        if (close_range(3, ~0u, 0) != 0) die("close_range");  // whatever the test runner left open
        const int fd = open("/dev/null", O_RDONLY);  // inherited, not close-on-exec
        if (fd < 0 || dup2(fd, 5) < 0) die("dup2");
        close(fd);
        const int closing = open("/dev/null", O_RDONLY | O_CLOEXEC);  // closes at exec
        if (closing < 0 || dup2(closing, 6) < 0 || fcntl(6, F_SETFD, FD_CLOEXEC) != 0) die("fd 6");
        close(closing);
    };
    const auto r = launch(l);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "0\n1\n2\n5\n");
}

}  // namespace
