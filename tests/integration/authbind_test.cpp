// authbind's tree and portauth's enforced together, portauth's authbind on
// authbind's command line, and the README's web server: Debian's nginx as
// an unprivileged uid with share/nginx/portauth-unprivileged.conf. Each test
// in a private network namespace, cgroup, bpffs and temp dir (Sandbox).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sandbox.hpp"

namespace {

using sandbox::Creds;
using sandbox::Sandbox;

const Creds kWeb{51040, 51040, {}};     // the server's uid
const Creds kOther{51041, 51041, {}};   // granted by the other tree
const char* kAddr6 = "2001:db8::80";     // a documentation address, on lo in the test's netns

class Authbind : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF, other uids)";
        sb = std::make_unique<Sandbox>();
        authbind_dir = sb->make_policy_dir("authbind");
    }
    void TearDown() override { stop_server(); }

    sandbox::ToolResult apply_with_authbind(const std::string& dir) {
        return sb->portauth({"apply", "--cgroup", sb->cgroup(), "--authbind-dir", dir});
    }

    // Starts `argv` in the sandbox's cgroup, as root: the adverbs drop and check.
    void start_server(const std::vector<std::string>& argv) {
        int err[2];
        ASSERT_EQ(pipe2(err, O_CLOEXEC), 0);
        server_ = fork();
        ASSERT_GE(server_, 0);
        if (server_ == 0) {
            std::ofstream(sb->cgroup() + "/cgroup.procs") << getpid() << std::flush;
            dup2(err[1], 2);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
        close(err[1]);
        stderr_fd_ = err[0];
    }

    // Waits for the server to exit on its own (a refused bind); its status and stderr.
    std::pair<int, std::string> wait_server_exit(std::chrono::seconds limit) {
        int status = -1;
        const auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            if (waitpid(server_, &status, WNOHANG) == server_) {
                server_ = -1;
                return {status, drain_stderr()};
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return {-1, "still running"};
    }

    std::string drain_stderr() {
        std::string out;
        if (stderr_fd_ < 0) return out;
        char buf[4096];
        for (ssize_t n; (n = read(stderr_fd_, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
        close(stderr_fd_);
        stderr_fd_ = -1;
        return out;
    }

    void stop_server() {
        if (server_ > 0) {
            kill(server_, SIGTERM);
            int status;
            for (int i = 0; i < 100 && waitpid(server_, &status, WNOHANG) == 0; ++i) usleep(20000);
            if (waitpid(server_, &status, WNOHANG) == 0) {
                kill(server_, SIGKILL);
                waitpid(server_, &status, 0);
            }
            server_ = -1;
        }
        if (stderr_fd_ >= 0) close(stderr_fd_), stderr_fd_ = -1;
    }

    // A directory the server's uid owns, for nginx's prefix (pid, temp, logs).
    std::string owned_dir(const std::string& name) {
        const std::string dir = sb->tmp() + "/" + name;
        EXPECT_EQ(mkdir(dir.c_str(), 0750), 0);
        EXPECT_EQ(chown(dir.c_str(), kWeb.uid, kWeb.gid), 0);
        return dir;
    }

    std::unique_ptr<Sandbox> sb;
    std::string authbind_dir;
    pid_t server_ = -1;
    int stderr_fd_ = -1;
};

// GET / over TCP to addr:port, retried for `limit` while nothing listens; the response, or "".
std::string http_get(const std::string& addr, uint16_t port, std::chrono::seconds limit) {
    const bool v6 = addr.find(':') != std::string::npos;
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{5, 0};
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_storage ss{};
        socklen_t len;
        if (v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(port);
            inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr);
            len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(port);
            inet_pton(AF_INET, addr.c_str(), &a->sin_addr);
            len = sizeof *a;
        }
        if (connect(s, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
            const std::string req = "GET / HTTP/1.0\r\nHost: portauth.test\r\n\r\n";
            std::string resp;
            if (send(s, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
                char buf[4096];
                for (ssize_t n; (n = recv(s, buf, sizeof buf, 0)) > 0;) resp.append(buf, static_cast<size_t>(n));
            }
            close(s);
            return resp;
        }
        close(s);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
}

bool have_nginx() { return access("/usr/sbin/nginx", X_OK) == 0; }

// share/nginx/portauth-unprivileged.conf, its listen lines replaced by `listen` when given.
std::string nginx_config(const std::string& listen = "") {
    std::ifstream in(std::string(PORTAUTH_SOURCE_DIR) + "/share/nginx/portauth-unprivileged.conf");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!listen.empty()) {
        const std::string both = "        listen 80;\n        listen [::]:80;\n";
        const auto at = text.find(both);
        if (at == std::string::npos) return "";
        text.replace(at, both.size(), "        " + listen + "\n");
    }
    return text;
}

TEST_F(Authbind, TheKernelEnforcesBothTreesTogether) {
    sb->entry("byport/80", kWeb.uid, 0, 0500);                           // /etc/portauth
    sb->entry_in(authbind_dir, "byport/443", kOther.uid, 0, 0500);      // /etc/authbind
    auto r = apply_with_authbind(authbind_dir);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(" and " + authbind_dir), std::string::npos) << r.out;
    EXPECT_EQ(sb->bind(kWeb, "tcp", "127.0.0.1", 80), 0);
    EXPECT_EQ(sb->bind(kOther, "tcp", "127.0.0.1", 443), 0);
    EXPECT_EQ(sb->bind(kWeb, "tcp", "127.0.0.1", 443), EACCES);
    EXPECT_EQ(sb->bind(kOther, "tcp", "127.0.0.1", 80), EACCES);

    // Without the authbind tree (an explicit --policy-dir merges none by default).
    r = sb->apply();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(sb->bind(kOther, "tcp", "127.0.0.1", 443), EACCES);
    EXPECT_EQ(sb->bind(kWeb, "tcp", "127.0.0.1", 80), 0);
}

TEST_F(Authbind, ThePolicyDirShadowsAuthbindsEntryOfTheSameNameAndTheToolsSayWhere) {
    sb->entry("byport/80", kWeb.uid, 0, 0500);
    sb->entry_in(authbind_dir, "byport/80", kOther.uid, 0, 0500);
    sb->entry_in(authbind_dir, "byport/443", kOther.uid, 0, 0500);
    ASSERT_EQ(apply_with_authbind(authbind_dir).status, 0);
    EXPECT_EQ(sb->bind(kWeb, "tcp", "127.0.0.1", 80), 0);
    EXPECT_EQ(sb->bind(kOther, "tcp", "127.0.0.1", 80), EACCES);

    auto list = sb->portauth({"list", "--json", "--authbind-dir", authbind_dir});
    ASSERT_EQ(list.status, 0) << list.err;
    EXPECT_NE(list.out.find("\"entry\":\"byport/80\",\"tree\":\"" + sb->policy_dir() + "\""), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("\"entry\":\"" + authbind_dir + "/byport/443\",\"tree\":\"" + authbind_dir + "\""),
              std::string::npos)
        << list.out;
    auto text = sb->portauth({"list", "--authbind-dir", authbind_dir});
    EXPECT_NE(text.out.find("not enforced: " + authbind_dir + "/byport/80"), std::string::npos) << text.out;

    auto check = sb->portauth({"check", "--json", "--user", std::to_string(kOther.uid), "--authbind-dir", authbind_dir, "tcp/443"});
    EXPECT_EQ(check.status, 0) << check.err;
    EXPECT_NE(check.out.find("\"entry_tree\":\"" + authbind_dir + "\""), std::string::npos) << check.out;

    // revoke edits the policy dir only: a grant that is (also) in authbind's tree is refused, naming it.
    auto revoke = sb->portauth({"revoke", "--authbind-dir", authbind_dir, "80", std::to_string(kWeb.uid)});
    EXPECT_EQ(revoke.status, 111) << revoke.out;
    EXPECT_NE(revoke.err.find(authbind_dir + "/byport/80"), std::string::npos) << revoke.err;
    struct stat st;
    EXPECT_EQ(stat((sb->policy_dir() + "/byport/80").c_str(), &st), 0) << "nothing changed";
}

TEST_F(Authbind, ReservationsInTheAuthbindTreeAreRefusedAndThePreviousPolicyStays) {
    sb->entry("byport/80", kWeb.uid, 0, 0500);
    ASSERT_EQ(apply_with_authbind(authbind_dir).status, 0);
    sb->entry_in(authbind_dir, "reserve/tcp/8080", kOther.uid, 0, 0500);
    auto r = apply_with_authbind(authbind_dir);
    EXPECT_EQ(r.status, 111);
    EXPECT_NE(r.err.find(authbind_dir + "/reserve"), std::string::npos) << r.err;
    EXPECT_EQ(sb->bind(kWeb, "tcp", "127.0.0.1", 80), 0);
}

TEST_F(Authbind, AcceptsAuthbindsCommandLine) {
    sb->entry("byport/80", kWeb.uid, 0, 0500);
    ASSERT_EQ(sb->apply().status, 0);
    sandbox::ScopedEnv pins("PORTAUTH_PIN_DIR", sb->pin_dir());
    auto in_cgroup = [&](std::vector<std::string> argv) {
        std::vector<std::string> sh = {"sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", sb->cgroup()};
        sh.insert(sh.end(), argv.begin(), argv.end());
        return sandbox::run(sh);
    };
    EXPECT_EQ(in_cgroup({AUTHBIND_BIN, "--deep", "--depth", "3", "--", "/bin/echo", "--deep"}).out, "--deep\n");
    EXPECT_EQ(in_cgroup({AUTHBIND_BIN, "/bin/echo", "--depth", "x"}).out, "--depth x\n") << "nothing after PROGRAM is parsed";
    EXPECT_EQ(in_cgroup({AUTHBIND_BIN, "--depth", "0", "/bin/true"}).status, 100);
    EXPECT_EQ(in_cgroup({AUTHBIND_BIN, "--shallow", "/bin/true"}).status, 100);
    EXPECT_EQ(in_cgroup({AUTHBIND_BIN}).status, 100);
    EXPECT_EQ(in_cgroup({AUTHBIND_BIN, "/nonexistent/program"}).status, 127);
    // Outside the governed cgroup, enforcement does not cover the process: refused before exec.
    auto outside = sandbox::run({AUTHBIND_BIN, "/bin/true"});
    EXPECT_EQ(outside.status, 111);
    EXPECT_NE(outside.err.find("does not contain this process"), std::string::npos) << outside.err;
}

#ifdef DROPTO_BIN
// The seed scenario, as written: `dropto USER authbind --deep SERVER ...`, an
// authbind-style tree granting an IPv6 address's port 80 to the user.
TEST_F(Authbind, DroptoAuthbindDeepServesOnAnIpv6AddressGrantedInTheAuthbindTree) {
    auto ip = sandbox::run({"ip", "-6", "addr", "add", std::string(kAddr6) + "/128", "dev", "lo", "nodad"});
    ASSERT_EQ(ip.status, 0) << ip.err;
    sb->entry_in(authbind_dir, "byaddr/" + std::string(kAddr6) + ",80", kWeb.uid, 0, 0500);
    ASSERT_EQ(apply_with_authbind(authbind_dir).status, 0);
    sandbox::ScopedEnv pins("PORTAUTH_PIN_DIR", sb->pin_dir());

    std::vector<std::string> server;
    std::string expect;
    if (have_nginx()) {
        const std::string prefix = owned_dir("nginx");
        const std::string conf = prefix + "/nginx.conf";
        const std::string text = nginx_config("listen [" + std::string(kAddr6) + "]:80;");
        ASSERT_FALSE(text.empty()) << "share/nginx/portauth-unprivileged.conf has no 'listen 80; listen [::]:80;' lines";
        std::ofstream(conf) << text;
        server = {"/usr/sbin/nginx", "-p", prefix + "/", "-c", conf, "-g", "daemon off;"};
        expect = "Welcome to nginx";
    } else {
        server = {"/usr/bin/python3", "-m", "http.server", "--bind", kAddr6, "--directory", "/", "80"};
        expect = "Directory listing";
    }
    const std::string uid = std::to_string(kWeb.uid) + ":" + std::to_string(kWeb.gid);
    std::vector<std::string> argv = {DROPTO_BIN, uid, AUTHBIND_BIN, "--deep"};
    argv.insert(argv.end(), server.begin(), server.end());
    start_server(argv);
    const std::string resp = http_get(kAddr6, 80, std::chrono::seconds(10));
    EXPECT_NE(resp.find("200 OK"), std::string::npos) << resp << drain_stderr();
    EXPECT_NE(resp.find(expect), std::string::npos) << resp;
    stop_server();

    // Without the grant, the same command line is refused its bind.
    std::filesystem::remove(authbind_dir + "/byaddr/" + std::string(kAddr6) + ",80");
    ASSERT_EQ(apply_with_authbind(authbind_dir).status, 0);
    start_server(argv);
    auto [status, err] = wait_server_exit(std::chrono::seconds(10));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status << " " << err;
    EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
    EXPECT_EQ(http_get(kAddr6, 80, std::chrono::seconds(1)), "");
}

// README's tutorial: Debian's nginx as an unprivileged user with the shipped
// config, through dropto and the portauth adverb.
TEST_F(Authbind, TheTutorialsNginxServesAsAnUnprivilegedUid) {
    if (!have_nginx()) GTEST_SKIP() << "needs Debian's nginx (/usr/sbin/nginx; scripts/install-deps.sh installs it)";
    auto allow = sb->portauth({"allow", "--no-apply", "80", std::to_string(kWeb.uid)});
    ASSERT_EQ(allow.status, 0) << allow.err;
    ASSERT_EQ(sb->apply().status, 0);
    const std::string prefix = owned_dir("nginx");
    const std::string conf = prefix + "/portauth-unprivileged.conf";
    std::ofstream(conf) << nginx_config();
    start_server({DROPTO_BIN, std::to_string(kWeb.uid) + ":" + std::to_string(kWeb.gid), PORTAUTH_BIN, "--pin-dir",
                  sb->pin_dir(), "/usr/sbin/nginx", "-p", prefix + "/", "-c", conf, "-g", "daemon off;"});
    for (const char* addr : {"127.0.0.1", "::1"}) {
        const std::string resp = http_get(addr, 80, std::chrono::seconds(10));
        EXPECT_NE(resp.find("200 OK"), std::string::npos) << addr << ": " << resp << drain_stderr();
        EXPECT_NE(resp.find("Welcome to nginx"), std::string::npos) << addr;
    }
    struct stat st;
    EXPECT_EQ(stat((prefix + "/nginx.pid").c_str(), &st), 0) << "the pid file is in the prefix";
    EXPECT_EQ(st.st_uid, kWeb.uid);
}
#endif

}  // namespace
