// run(): the order of the privilege drop, its verification, and every way out.
// The kernel is FakeSyscalls (see dropto_fakes.hpp); nothing here needs privileges.
#include <gtest/gtest.h>

#include <cstring>

#include "dropto/run.hpp"
#include "dropto_fakes.hpp"

namespace portauth::dropto {
namespace {

using testing::FakeSyscalls;
using testing::FakeUserDatabase;
using testing::kAllCaps;

class DroptoRun : public ::testing::Test {
protected:
    void SetUp() override {
        db.add_user("root", 0, 0, "/root");
        db.add_user("www-data", 33, 33, "/var/www");
        db.add_user("alice", 1000, 1000, "/home/alice");
        db.add_group("root", 0);
        db.add_group("www-data", 33);
        db.add_group("adm", 4, {"www-data", "alice"});
        db.add_group("alice", 1000);
        db.add_group("staff", 50);
        options.target = "www-data";
        options.command = {"nginx", "-g", "daemon off;"};
        sys.groups = {0, 4, 27};  // root's own supplementary groups
    }

    Failure go() {
        return run(options, sys, db, [this](const std::string& w) { warnings.push_back(w); });
    }

    // Each of `calls` happened, in this order (others may come in between).
    void expect_order(const std::vector<std::string>& calls) {
        size_t from = 0;
        for (const auto& call : calls) {
            const int at = sys.position(call, from);
            ASSERT_GE(at, 0) << call << " was not called after " << from << " log entries";
            from = static_cast<size_t>(at) + 1;
        }
    }

    Options options;
    FakeSyscalls sys;
    FakeUserDatabase db;
    std::vector<std::string> warnings;
};

TEST_F(DroptoRun, DropsInOrderVerifiesThenExecs) {
    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_not_found);  // the fake's exec "fails" after running
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_EQ(*sys.executed, options.command);

    expect_order({"setgroups(4,33)", "setresgid(33,33,33)", "setfsgid(33)", "setresuid(33,33,33)",
                  "setfsuid(33)", "clear_ambient", "capset",
                  "setresuid(0,0,0)",  // verification: must fail
                  "capget", "execvp(nginx -g daemon off;)"});

    EXPECT_EQ(sys.uids, (IdTriple{33, 33, 33}));
    EXPECT_EQ(sys.gids, (IdTriple{33, 33, 33}));
    EXPECT_EQ(sys.fsuid, 33u);
    EXPECT_EQ(sys.fsgid, 33u);
    EXPECT_EQ(sys.groups, (std::vector<uint32_t>{4, 33}));
    EXPECT_EQ(sys.caps.permitted | sys.caps.effective | sys.caps.inheritable | sys.caps.ambient, 0u);
    EXPECT_EQ(sys.caps.bounding, kAllCaps);  // left alone without --clear-bounding-set
    EXPECT_FALSE(sys.nnp);
    EXPECT_FALSE(sys.called("setsid"));
}

// Each state-changing step, made to fail: exit 111, a message naming the call, the
// user or group and the errno text, and nothing after it - above all no exec.
struct FailingStep {
    const char* call;
    int err;
    const char* message;
};

void PrintTo(const FailingStep& step, std::ostream* os) { *os << step.call; }

class DroptoRunFailingStep : public DroptoRun, public ::testing::WithParamInterface<FailingStep> {};

TEST_P(DroptoRunFailingStep, StopsWithExit111AndNamesCallAndUser) {
    const FailingStep& step = GetParam();
    sys.fail[step.call] = step.err;
    const size_t calls_before_failure = [&] {
        FakeSyscalls probe;  // the same run without the failure, to find the failing call's index
        probe.groups = sys.groups;
        run(options, probe, db, nullptr);
        return static_cast<size_t>(probe.position(step.call));
    }();

    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.message(), std::string(step.message) + ": " + std::strerror(step.err));
    EXPECT_FALSE(sys.executed.has_value());
    EXPECT_FALSE(sys.called("execvp"));
    // The failing call is the last thing that happened.
    ASSERT_EQ(sys.log.size(), calls_before_failure + 1);
    EXPECT_EQ(sys.log.back().rfind(step.call, 0), 0u) << sys.log.back();
}

INSTANTIATE_TEST_SUITE_P(
    EachStep, DroptoRunFailingStep,
    ::testing::Values(
        FailingStep{"setgroups", EPERM, "setgroups for user 'www-data' (uid 33)"},
        FailingStep{"setresgid", EPERM, "setresgid for group 'www-data' (gid 33)"},
        FailingStep{"setresuid", EAGAIN, "setresuid for user 'www-data' (uid 33)"},
        FailingStep{"clear_ambient", EINVAL, "clear_ambient for user 'www-data' (uid 33)"},
        FailingStep{"capset", EPERM, "capset for user 'www-data' (uid 33)"},
        FailingStep{"capget", EFAULT, "capget for user 'www-data' (uid 33)"}),
    [](const auto& info) { return std::string(info.param.call); });

TEST_F(DroptoRun, SetgroupsMessageMatchesTheDocumentedForm) {
    sys.fail["setgroups"] = EPERM;
    EXPECT_EQ(go().error.message(), "setgroups for user 'www-data' (uid 33): Operation not permitted");
}

TEST_F(DroptoRun, WithoutCapSetgidTheRealRuleFailsSetgroupsFirst) {
    sys.caps.effective &= ~(uint64_t{1} << testing::kCapSetgid);
    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.err, EPERM);
    EXPECT_FALSE(sys.called("setresgid"));
    EXPECT_FALSE(sys.executed);
}

TEST_F(DroptoRun, ALyingSetresuidIsCaughtByVerification) {
    sys.ignore.insert("setresuid");
    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.message(),
              "verification failed for user 'www-data' (uid 33): real/effective/saved uid is 0/0/0");
    EXPECT_FALSE(sys.executed);
}

TEST_F(DroptoRun, ALyingSetgroupsIsCaughtByVerification) {
    sys.ignore.insert("setgroups");
    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_NE(failure.error.what.find("supplementary groups are 0,4,27"), std::string::npos)
        << failure.error.what;
    EXPECT_FALSE(sys.executed);
}

TEST_F(DroptoRun, StuckFilesystemIdsAreCaughtByVerification) {
    sys.ignore.insert("setfsuid");
    Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.what, "verification failed for user 'www-data' (uid 33): filesystem uid is 0");
    EXPECT_FALSE(sys.executed);

    FakeSyscalls stuck_gid;
    stuck_gid.ignore.insert("setfsgid");
    failure = run(options, stuck_gid, db, nullptr);
    EXPECT_EQ(failure.error.what, "verification failed for user 'www-data' (uid 33): filesystem gid is 0");
    EXPECT_FALSE(stuck_gid.executed);
}

TEST_F(DroptoRun, CapabilitiesKeptBySecurebitsAreClearedAnyway) {
    sys.no_setuid_fixup = true;  // the kernel will not clear them on the uid change
    sys.caps.ambient = 1u << 10;
    sys.caps.inheritable = 1u << 10;
    go();
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_EQ(sys.caps.permitted, 0u);
    EXPECT_EQ(sys.caps.effective, 0u);
    EXPECT_EQ(sys.caps.inheritable, 0u);
    EXPECT_EQ(sys.caps.ambient, 0u);
}

TEST_F(DroptoRun, RootThatCanBeRegainedIsRefused) {
    sys.no_setuid_fixup = true;
    sys.ignore.insert("capset");  // capabilities survive: CAP_SETUID is still effective
    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.message(),
              "verification failed for user 'www-data' (uid 33): setresuid(0, 0, 0) succeeded; "
              "root could be regained");
    EXPECT_FALSE(sys.executed);
}

TEST_F(DroptoRun, LeftoverCapabilitiesAreRefused) {
    // The uid change clears permitted, effective and ambient; the inheritable set stays
    // (it would grant capabilities with a file's inheritable set) and capset "fails".
    sys.caps.inheritable = 1u << 12;
    sys.ignore.insert("capset");
    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.what,
              "verification failed for user 'www-data' (uid 33): capabilities are left: permitted "
              "0000000000000000, effective 0000000000000000, inheritable 0000000000001000, ambient "
              "0000000000000000");
    EXPECT_FALSE(sys.executed);
}

TEST_F(DroptoRun, RootToRootKeepsCapabilitiesAndSkipsTheRegainCheck) {
    options.target = "root:staff";
    go();
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_EQ(sys.gids, (IdTriple{50, 50, 50}));
    EXPECT_EQ(sys.groups, (std::vector<uint32_t>{50}));
    EXPECT_EQ(sys.caps.permitted, kAllCaps);
    EXPECT_FALSE(sys.called("capset"));
    EXPECT_EQ(sys.count("setresuid("), 1);  // the drop itself, no regain attempt
}

TEST_F(DroptoRun, NumericUidWithoutPasswdEntry) {
    options.target = "51000:51001";
    go();
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_EQ(sys.log.front(), "open_fds");
    expect_order({"setgroups()", "setresgid(51001,51001,51001)", "setresuid(51000,51000,51000)"});
    EXPECT_TRUE(sys.groups.empty());
    EXPECT_EQ(sys.env["HOME"], "/");
    EXPECT_EQ(sys.env["USER"], "51000");
    EXPECT_EQ(sys.env["LOGNAME"], "51000");
}

TEST_F(DroptoRun, EnvironmentIsTheTargetUsersUnlessKept) {
    go();
    EXPECT_EQ(sys.env, (std::map<std::string, std::string>{
                           {"HOME", "/var/www"}, {"USER", "www-data"}, {"LOGNAME", "www-data"}}));

    FakeSyscalls kept;
    options.keep_env = true;
    run(options, kept, db, nullptr);
    ASSERT_TRUE(kept.executed.has_value());
    EXPECT_TRUE(kept.env.empty());
    EXPECT_FALSE(kept.called("setenv"));
}

TEST_F(DroptoRun, UsageErrorsChangeNothing) {
    for (const char* target : {"nosuch", "www-data:nosuch", "51000", "a:b:c", ""}) {
        FakeSyscalls fresh;
        options.target = target;
        const Failure failure = run(options, fresh, db, nullptr);
        EXPECT_EQ(failure.exit_code, exit_usage) << target;
        EXPECT_FALSE(fresh.called("set")) << target;  // no setgroups/setres*id/setenv/setsid
        EXPECT_FALSE(fresh.executed) << target;
    }
    FakeSyscalls fresh;
    options.target = "www-data";
    options.command.clear();
    EXPECT_EQ(run(options, fresh, db, nullptr).exit_code, exit_usage);
    EXPECT_FALSE(fresh.executed);
}

TEST_F(DroptoRun, DatabaseFailureIsExit111) {
    db.fail["user_by_name"] = EIO;
    const Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.message(), std::string("looking up user 'www-data': ") + std::strerror(EIO));
    EXPECT_FALSE(sys.called("setgroups"));
}

TEST_F(DroptoRun, ExecFailuresMapTo126And127) {
    for (auto [err, code] : {std::pair{ENOENT, 127}, {ENOTDIR, 127}, {EACCES, 126}, {ENOEXEC, 126}}) {
        FakeSyscalls fresh;
        fresh.exec_errno = err;
        const Failure failure = run(options, fresh, db, nullptr);
        EXPECT_EQ(failure.exit_code, code) << err;
        EXPECT_EQ(failure.error.message(), std::string("cannot execute 'nginx': ") + std::strerror(err));
    }
}

TEST_F(DroptoRun, RefusesWhenInstalledSetuidOrSetgid) {
    const std::vector<std::pair<IdTriple, IdTriple>> elevated = {
        {{1000, 0, 0}, {1000, 1000, 1000}},  // setuid root
        {{1000, 1000, 1000}, {1000, 0, 0}},  // setgid root
        {{0, 0, 1000}, {0, 0, 0}},           // a saved uid that is not the real one
    };
    for (const auto& [uids, gids] : elevated) {
        FakeSyscalls fresh;
        fresh.uids = uids;
        fresh.gids = gids;
        const Failure failure = run(options, fresh, db, nullptr);
        EXPECT_EQ(failure.exit_code, exit_usage);
        EXPECT_NE(failure.error.what.find("refusing to run"), std::string::npos);
        EXPECT_TRUE(fresh.log.empty()) << fresh.log.front();  // not even the fd list
        EXPECT_FALSE(fresh.executed);
    }
    FakeSyscalls secure;  // AT_SECURE: e.g. file capabilities, with equal ids
    secure.at_secure = true;
    const Failure failure = run(options, secure, db, nullptr);
    EXPECT_EQ(failure.exit_code, exit_usage);
    EXPECT_NE(failure.error.what.find("AT_SECURE"), std::string::npos);
    EXPECT_TRUE(secure.log.empty());
}

TEST_F(DroptoRun, NonRootMayOnlyDropToItself) {
    sys.become_user(1000, 1000, {4, 1000});
    options.target = "www-data";
    Failure failure = go();
    EXPECT_EQ(failure.exit_code, exit_usage);
    EXPECT_EQ(failure.error.what,
              "not running as root (uid 1000): cannot become user 'www-data' (uid 33); only "
              "dropping to the current identity is allowed");
    EXPECT_FALSE(sys.called("setgroups"));
    EXPECT_FALSE(sys.executed);

    FakeSyscalls other_group;
    other_group.become_user(1000, 1000, {4, 1000});
    options.target = "alice:staff";
    failure = run(options, other_group, db, nullptr);
    EXPECT_EQ(failure.exit_code, exit_usage);
    EXPECT_NE(failure.error.what.find("cannot change the group"), std::string::npos);

    FakeSyscalls other_groups;
    other_groups.become_user(1000, 1000, {1000});  // not in adm, which the database adds
    options.target = "alice";
    failure = run(options, other_groups, db, nullptr);
    EXPECT_EQ(failure.exit_code, exit_usage);
    EXPECT_NE(failure.error.what.find("supplementary groups from 1000 to 4,1000"), std::string::npos)
        << failure.error.what;
}

TEST_F(DroptoRun, NonRootDroppingToItselfIsAPlainExec) {
    sys.become_user(1000, 1000, {1000, 4});  // same set, other order
    options.target = "alice";
    options.no_new_privs = true;
    go();
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_FALSE(sys.called("setgroups"));
    EXPECT_FALSE(sys.called("setres"));
    EXPECT_FALSE(sys.called("capset"));
    EXPECT_TRUE(sys.nnp);
    EXPECT_EQ(sys.env["USER"], "alice");
    EXPECT_TRUE(warnings.empty());
}

TEST_F(DroptoRun, NoNewPrivsIsSetAndVerified) {
    options.no_new_privs = true;
    go();
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_TRUE(sys.nnp);
    expect_order({"setresuid(33,33,33)", "set_no_new_privs", "execvp"});

    FakeSyscalls lying;
    lying.ignore.insert("set_no_new_privs");
    const Failure failure = run(options, lying, db, nullptr);
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_NE(failure.error.what.find("no_new_privs is not set"), std::string::npos);
    EXPECT_FALSE(lying.executed);
}

TEST_F(DroptoRun, ClearBoundingSetNeedsRootAndHappensBeforeTheUidChange) {
    options.clear_bounding_set = true;
    go();
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_EQ(sys.caps.bounding, 0u);
    expect_order({"clear_bounding_set", "setgroups", "setresuid(33,33,33)", "execvp"});

    FakeSyscalls user;
    user.become_user(1000, 1000, {4, 1000});
    options.target = "alice";
    const Failure failure = run(options, user, db, nullptr);
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.err, EPERM);
    EXPECT_FALSE(user.executed);
}

TEST_F(DroptoRun, SetsidComesBeforeTheDrop) {
    options.setsid = true;
    sys.controlling_terminal = true;
    go();
    ASSERT_TRUE(sys.executed.has_value());
    EXPECT_FALSE(sys.controlling_terminal);
    expect_order({"setsid", "setgroups", "execvp"});
}

TEST_F(DroptoRun, SetsidAsAGroupLeader) {
    options.setsid = true;
    sys.group_leader = true;
    sys.controlling_terminal = false;  // e.g. under s6-supervise: already what --setsid is for
    go();
    EXPECT_TRUE(sys.executed.has_value());

    FakeSyscalls job;  // an interactive shell's job: leads its group, owns the terminal
    job.group_leader = true;
    job.controlling_terminal = true;
    const Failure failure = run(options, job, db, nullptr);
    EXPECT_EQ(failure.exit_code, exit_syscall);
    EXPECT_EQ(failure.error.err, EPERM);
    EXPECT_NE(failure.error.what.find("setsid --fork --wait"), std::string::npos);
    EXPECT_FALSE(job.called("setgroups"));
    EXPECT_FALSE(job.executed);

    FakeSyscalls broken;
    broken.fail["setsid"] = ENOMEM;
    EXPECT_EQ(run(options, broken, db, nullptr).exit_code, exit_syscall);
    EXPECT_FALSE(broken.executed);
}

TEST_F(DroptoRun, WarnsAboutATerminalTheNewUserCouldTypeInto) {
    sys.ttys = {1};
    go();
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0],
              "warning: fd 1 is a terminal user 'www-data' (uid 33) could push keystrokes into "
              "(TIOCSTI, CVE-2016-2779); use --setsid");
    EXPECT_TRUE(sys.executed.has_value());
}

TEST_F(DroptoRun, NoTerminalWarningWhenItCannotMatter) {
    struct Case {
        const char* name;
        std::set<int> ttys;
        std::optional<std::string> legacy;
        bool setsid;
        const char* target;
    };
    for (const Case& c : std::vector<Case>{
             {"no terminal", {}, "1\n", false, "www-data"},
             {"kernel forbids TIOCSTI", {0, 1, 2}, "0\n", false, "www-data"},
             {"--setsid", {0}, "1\n", true, "www-data"},
             {"same user", {0}, "1\n", false, "root"},
         }) {
        FakeSyscalls fresh;
        fresh.ttys = c.ttys;
        fresh.legacy_tiocsti = c.legacy;
        options.setsid = c.setsid;
        options.target = c.target;
        std::vector<std::string> seen;
        run(options, fresh, db, [&](const std::string& w) { seen.push_back(w); });
        EXPECT_TRUE(seen.empty()) << c.name;
        EXPECT_TRUE(fresh.executed.has_value()) << c.name;
    }
    FakeSyscalls old_kernel;  // no legacy_tiocsti file: TIOCSTI always allowed
    old_kernel.ttys = {2};
    old_kernel.legacy_tiocsti.reset();
    options.setsid = false;
    options.target = "www-data";
    std::vector<std::string> seen;
    run(options, old_kernel, db, [&](const std::string& w) { seen.push_back(w); });
    EXPECT_EQ(seen.size(), 1u);
}

TEST_F(DroptoRun, DescriptorsOpenedDuringTheRunAreMadeCloseOnExec) {
    sys.fds = {0, 1, 2, 5};          // 5: inherited from the caller, passed on as is
    sys.fd_opened_by_a_library = 7;  // e.g. an NSS module's socket
    go();
    ASSERT_TRUE(sys.executed.has_value());
    expect_order({"open_fds", "setresuid(33,33,33)", "open_fds", "cloexec(7)", "execvp"});
    for (int fd : {0, 1, 2, 5}) EXPECT_FALSE(sys.called("cloexec(" + std::to_string(fd) + ")")) << fd;

    FakeSyscalls no_proc;
    no_proc.proc_fd_missing = true;
    run(options, no_proc, db, nullptr);
    EXPECT_TRUE(no_proc.executed.has_value());
}

}  // namespace
}  // namespace portauth::dropto
