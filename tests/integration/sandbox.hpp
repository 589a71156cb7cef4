// The integration tests' private corner of the machine: a network namespace
// of its own for the test process, a child cgroup under the cgroup v2 mount,
// a bpffs mounted in a temp dir for pins, a policy dir in a temp dir.
// Everything is removed in the destructor, also when a test fails or making
// the sandbox fails halfway; not root, nothing is made (fixtures skip). Binds are made by forked children that join the cgroup and become
// numeric test users; nothing ever attaches to the root cgroup.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sandbox {

struct ToolResult {
    int status = -1;   // exit status, or 128+signal
    std::string out, err;
};

// Moves the calling process into a new network namespace with lo up, so that
// its binds and the tools it runs never touch the host's ports or sysctls.
// False (errno set) on failure.
bool enter_private_netns();

// The whole of a file ("" when it cannot be read).
std::string slurp(const std::string& path);
// Polls `cond` every 20 ms until it holds or `limit` passed; its last answer.
bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit);

// Runs a program (no shell), waits, captures stdout and stderr.
ToolResult run(const std::vector<std::string>& argv, const std::string& stdin_text = "");

struct Creds {
    uint32_t uid = 0, gid = 0;
    std::vector<uint32_t> groups;
};

// The same, the program running as `who` (exactly its groups); for what an unprivileged admin sees.
ToolResult run_as(const Creds& who, const std::vector<std::string>& argv);

struct BindOptions {
    bool v6_only = false;
    bool unspec_family = false;   // bind(2) with sa_family AF_UNSPEC (IPv4 sockets only)
    int protocol = 0;             // e.g. IPPROTO_MPTCP
    bool new_netns = false;       // bind inside a fresh network namespace
};

// Whether the suite runs against a program variant without `feature`
// (PORTAUTH_BPF_WITHOUT names it; tests/CMakeLists.txt runs the suite so).
bool withheld(const std::string& feature);
// Whether that variant lacks bpf_set_retval, whose refusals fail with EPERM.
bool refusals_are_eperm();
// The errno a policy refusal fails with in this run: EPERM or EACCES.
int refusal_errno();

// Forks a child that joins `cgroup`, drops to `who` and binds; returns 0 or
// the errno (EPERM from the variant without bpf_set_retval as EACCES).
int bind_as(const std::string& cgroup, const Creds& who, const std::string& proto, const std::string& addr,
            uint16_t port, const BindOptions& options = {});

// Sets (or, with nullopt, unsets) an environment variable for the tools a
// test runs, and puts back what was there when it goes out of scope.
class ScopedEnv {
public:
    ScopedEnv(std::string name, const std::optional<std::string>& value);
    ~ScopedEnv();
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
    std::optional<std::string> previous_;
};

class Sandbox;
// The optional kernel features the enforcing program lacks, as `portauth
// status --json` says them: its "program_lacks":[...] text, "" when the key is
// absent (a program loaded by an earlier portauth records none).
std::string program_lacks(Sandbox& sb);
// Whether that list names `feature` ("v6only", "sk_storage", ...).
bool program_lacks_feature(Sandbox& sb, const std::string& feature);

class Sandbox {
public:
    Sandbox();
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    const std::string& cgroup() const { return cgroup_; }
    const std::string& pin_dir() const { return pin_dir_; }
    const std::string& policy_dir() const { return policy_dir_; }
    const std::string& tmp() const { return tmp_; }
    // Where the tools send journal entries ($PORTAUTH_JOURNAL_SOCKET); nobody listens unless a test binds it.
    std::string journal_socket() const { return tmp_ + "/journal.socket"; }

    // Creates the policy entry `rel` (e.g. "byport/80") with owner, group and
    // mode; `acl` is given to setfacl -m (e.g. "u:51000:x,m::x") when non-empty.
    void entry(const std::string& rel, uint32_t uid, uint32_t gid, mode_t mode, const std::string& acl = "",
               const std::string& content = "");
    void remove(const std::string& rel);
    // A second policy tree next to the first, for reload tests; entry_in fills it.
    std::string make_policy_dir(const std::string& name);
    void entry_in(const std::string& dir, const std::string& rel, uint32_t uid, uint32_t gid, mode_t mode,
                  const std::string& acl = "", const std::string& content = "");

    ToolResult portauth(std::vector<std::string> args);      // adds --policy-dir/--pin-dir where they belong
    ToolResult portreserve(std::vector<std::string> args);
    ToolResult apply() { return portauth({"apply", "--cgroup", cgroup_}); }

    int bind(const Creds& who, const std::string& proto, const std::string& addr, uint16_t port,
             const BindOptions& options = {}) const {
        return bind_as(cgroup_, who, proto, addr, port, options);
    }

private:
    void make();
    void undo();
    std::string tmp_, cgroup_, bpffs_, pin_dir_, policy_dir_;
    std::vector<std::unique_ptr<ScopedEnv>> env_;   // the tools' state dirs and journal socket, in tmp_
};

}  // namespace sandbox
