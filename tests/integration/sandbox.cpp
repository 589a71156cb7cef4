#include "sandbox.hpp"

#include <tuple>
#include <utility>

#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "engine/system.hpp"

namespace fs = std::filesystem;

namespace sandbox {

namespace {

std::atomic<int> g_counter{0};

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return cond();
}

namespace {

ToolResult run_with(const Creds* who, const std::vector<std::string>& argv, const std::string& stdin_text) {
    int out[2], err[2], in[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(in, O_CLOEXEC)) throw std::runtime_error("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        if (who) {
            const std::vector<gid_t> groups(who->groups.begin(), who->groups.end());
            if (setgroups(groups.size(), groups.data()) != 0 || setresgid(who->gid, who->gid, who->gid) != 0 ||
                setresuid(who->uid, who->uid, who->uid) != 0)
                _exit(120);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    close(in[0]);
    if (!stdin_text.empty()) (void)!write(in[1], stdin_text.data(), stdin_text.size());
    close(in[1]);
    ToolResult r;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            } else {
                (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

}  // namespace

ToolResult run(const std::vector<std::string>& argv, const std::string& stdin_text) { return run_with(nullptr, argv, stdin_text); }

ToolResult run_as(const Creds& who, const std::vector<std::string>& argv) { return run_with(&who, argv, ""); }

int bind_as(const std::string& cgroup, const Creds& who, const std::string& proto, const std::string& addr, uint16_t port,
            const BindOptions& options) {
    int p[2];
    if (pipe2(p, O_CLOEXEC)) throw std::runtime_error("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        auto fail = [&](int e) {
            int code = 10000 + e;   // setup failures are not bind results
            (void)!write(p[1], &code, sizeof code);
            _exit(1);
        };
        {
            int fd = open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "0", 1) != 1) fail(errno);
            close(fd);
        }
        if (options.new_netns && unshare(CLONE_NEWNET) != 0) fail(errno);
        std::vector<gid_t> groups(who.groups.begin(), who.groups.end());
        if (setgroups(groups.size(), groups.data()) != 0) fail(errno);
        if (setresgid(who.gid, who.gid, who.gid) != 0) fail(errno);
        if (setresuid(who.uid, who.uid, who.uid) != 0) fail(errno);
        const bool v6 = addr.find(':') != std::string::npos;
        const int type = proto == "tcp" ? SOCK_STREAM : SOCK_DGRAM;
        int s = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, options.protocol);
        if (s < 0) fail(errno);
        if (v6) {
            int on = options.v6_only ? 1 : 0;
            setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        }
        int result = 0;
        if (v6) {
            sockaddr_in6 sa{};
            sa.sin6_family = AF_INET6;
            sa.sin6_port = htons(port);
            inet_pton(AF_INET6, addr.c_str(), &sa.sin6_addr);
            result = ::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        } else {
            sockaddr_in sa{};
            sa.sin_family = options.unspec_family ? AF_UNSPEC : AF_INET;
            sa.sin_port = htons(port);
            inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
            result = ::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        }
        int code = result == 0 ? 0 : errno;
        (void)!write(p[1], &code, sizeof code);
        _exit(0);
    }
    close(p[1]);
    int code = -1;
    if (read(p[0], &code, sizeof code) != sizeof code) code = -1;
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (code >= 10000 || code < 0) throw std::runtime_error("bind_as: child setup failed: " + std::string(strerror(code - 10000)));
    // The variant without bpf_set_retval (PORTAUTH_BPF_WITHOUT=set_retval)
    // refuses with EPERM where the others say EACCES: the tests ask "refused
    // by the policy", and the errno that says it is the variant's.
    if (code == EPERM && refusals_are_eperm()) return EACCES;
    return code;
}

bool withheld(const std::string& feature) {
    const char* without = getenv("PORTAUTH_BPF_WITHOUT");
    if (!without) return false;
    const std::string list = std::string(",") + without + ",";
    return list.find("," + feature + ",") != std::string::npos;
}

bool refusals_are_eperm() { return withheld("set_retval"); }

ScopedEnv::ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* was = getenv(name_.c_str())) previous_ = was;
    if (value) setenv(name_.c_str(), value->c_str(), 1);
    else unsetenv(name_.c_str());
}

ScopedEnv::~ScopedEnv() {
    if (previous_) setenv(name_.c_str(), previous_->c_str(), 1);
    else unsetenv(name_.c_str());
}

std::string program_lacks(Sandbox& sb) {
    const std::string json = sb.portauth({"status", "--json"}).out;
    const size_t at = json.find("\"program_lacks\":[");
    if (at == std::string::npos) return "";
    return json.substr(at, json.find(']', at) - at + 1);
}

bool program_lacks_feature(Sandbox& sb, const std::string& feature) {
    return program_lacks(sb).find("\"" + feature + "\"") != std::string::npos;
}

int refusal_errno() { return refusals_are_eperm() ? EPERM : EACCES; }

namespace {
bool g_in_private_netns = false;   // this process left the netns it started in
}  // namespace

bool enter_private_netns() {
    if (unshare(CLONE_NEWNET) != 0) return false;
    g_in_private_netns = true;
    const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    bool ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    const int e = errno;
    close(s);
    errno = e;
    return ok;
}

Sandbox::Sandbox() {
    // Not root: nothing is made (the fixture's SetUp skips the test). Making
    // the temp dir first and failing at the cgroup would leave it behind.
    if (geteuid() != 0) return;
    // The test process and every child it forks from here on (the tools, the
    // binders) live in a network namespace of their own: no bind, sysctl or
    // socket of a test ever touches the host's.
    // Once per process: a test that made its own already, or a second sandbox, keeps it.
    if (!g_in_private_netns && !enter_private_netns())
        throw std::runtime_error(std::string("a private network namespace: ") + strerror(errno));
    try {
        make();
    } catch (...) {
        undo();
        throw;
    }
}

void Sandbox::make() {
    char tmpl[] = "/tmp/portauth-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + strerror(errno));
    tmp_ = tmpl;
    chmod(tmp_.c_str(), 0755);
    auto mount = portauth::find_cgroup2_mount();
    if (!mount) throw std::runtime_error(mount.error().message());
    const std::string cgroup = *mount + "/portauth-test-" + std::to_string(getpid()) + "-" + std::to_string(g_counter++);
    if (mkdir(cgroup.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + cgroup + ": " + strerror(errno));
    cgroup_ = cgroup;
    const std::string bpffs = tmp_ + "/bpffs";
    mkdir(bpffs.c_str(), 0700);
    if (::mount("bpf", bpffs.c_str(), "bpf", 0, "mode=0700") != 0) throw std::runtime_error(std::string("mount bpffs: ") + strerror(errno));
    bpffs_ = bpffs;
    pin_dir_ = bpffs_ + "/portauth";
    policy_dir_ = tmp_ + "/policy";
    mkdir(policy_dir_.c_str(), 0755);
    chmod(policy_dir_.c_str(), 0755);
    // The state file for unprivileged readers and the last good policy go
    // here, not in /run/portauth and /var/lib/portauth, and journal entries
    // to a socket here (where a test may listen: journal_socket()), not to
    // the host's journal; this process's children (the tools) inherit that.
    // Put back when the sandbox goes (members outlive the destructor's unload).
    for (const auto& [name, dir] : {std::pair{"PORTAUTH_RUNTIME_DIR", tmp_ + "/run"}, std::pair{"PORTAUTH_STATE_DIR", tmp_ + "/state"},
                                    std::pair{"PORTAUTH_JOURNAL_SOCKET", tmp_ + "/journal.socket"}})
        env_.push_back(std::make_unique<ScopedEnv>(name, dir));
}

// Undoes what make() got to, in reverse.
void Sandbox::undo() {
    if (!pin_dir_.empty()) run({PORTAUTH_BIN, "unload", "--pin-dir", pin_dir_});
    if (!cgroup_.empty()) {
        // Kill anything a test left in the cgroup, then remove it.
        if (FILE* f = fopen((cgroup_ + "/cgroup.kill").c_str(), "w")) {
            fputs("1", f);
            fclose(f);
        }
        // Child cgroups a user of the sandbox made (portauth-sandbox's scripts), deepest first.
        std::error_code ec;
        std::vector<std::string> children;
        for (auto it = fs::recursive_directory_iterator(cgroup_, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            if (it->is_directory(ec) && !it->is_symlink(ec)) children.push_back(it->path().string());
        std::sort(children.rbegin(), children.rend());
        for (const auto& dir : children)
            for (int i = 0; i < 100 && rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) usleep(10000);
        for (int i = 0; i < 100 && rmdir(cgroup_.c_str()) != 0 && errno == EBUSY; ++i) usleep(10000);
    }
    if (!bpffs_.empty()) umount2(bpffs_.c_str(), MNT_DETACH);
    if (!tmp_.empty()) {
        std::error_code ec;
        fs::remove_all(tmp_, ec);
    }
}

Sandbox::~Sandbox() { undo(); }

void Sandbox::entry(const std::string& rel, uint32_t uid, uint32_t gid, mode_t mode, const std::string& acl,
                    const std::string& content) {
    entry_in(policy_dir_, rel, uid, gid, mode, acl, content);
}

std::string Sandbox::make_policy_dir(const std::string& name) {
    if (tmp_.empty()) throw std::logic_error("the sandbox was not made (not root): the test should have skipped");
    std::string dir = tmp_ + "/" + name;
    mkdir(dir.c_str(), 0755);
    chmod(dir.c_str(), 0755);
    return dir;
}

void Sandbox::entry_in(const std::string& base, const std::string& rel, uint32_t uid, uint32_t gid, mode_t mode,
                       const std::string& acl, const std::string& content) {
    if (base.empty() || tmp_.empty()) throw std::logic_error("the sandbox was not made (not root): the test should have skipped");
    fs::path path = fs::path(base) / rel;
    fs::create_directories(path.parent_path());
    for (fs::path dir = path.parent_path(); dir.string().size() > base.size(); dir = dir.parent_path())
        chmod(dir.c_str(), 0755);
    write_file(path, content);
    if (chown(path.c_str(), uid, gid) != 0 || chmod(path.c_str(), mode) != 0) throw std::runtime_error("chown/chmod " + path.string());
    if (!acl.empty()) {
        auto r = run({"setfacl", "-m", acl, path.string()});
        if (r.status != 0) throw std::runtime_error("setfacl: " + r.err);
    }
}

void Sandbox::remove(const std::string& rel) { fs::remove(fs::path(policy_dir_) / rel); }

ToolResult Sandbox::portauth(std::vector<std::string> args) {
    std::vector<std::string> argv = {PORTAUTH_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string& cmd = args.empty() ? std::string() : args[0];
    if (cmd == "apply" || cmd == "check" || cmd == "allow" || cmd == "revoke" || cmd == "list")
        argv.insert(argv.end(), {"--policy-dir", policy_dir_});
    if (cmd == "apply" || cmd == "status" || cmd == "unload" || cmd == "check" || cmd == "allow" || cmd == "revoke")
        argv.insert(argv.end(), {"--pin-dir", pin_dir_});
    return run(argv);
}

ToolResult Sandbox::portreserve(std::vector<std::string> args) {
    std::vector<std::string> argv = {PORTRESERVE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--policy-dir", policy_dir_});
    if (!args.empty() && args[0] != "list") argv.insert(argv.end(), {"--pin-dir", pin_dir_});
    return run(argv);
}

}  // namespace sandbox
