// portauth-sandbox CMD [ARG...]: runs CMD in the test suite's sandbox (the
// same code as the integration tests' Sandbox: tests/integration/sandbox.hpp)
// and removes everything when CMD ends, whatever its status, also on INT,
// TERM or HUP. For the scripts that need a scratch corner of the machine: the
// demo, the benchmarks, packaging and CI checks.
//
// CMD runs as root in a network namespace of its own (lo up), with
//   PORTAUTH_SANDBOX_DIR         a temp dir, 0755, removed at the end
//   PORTAUTH_SANDBOX_CGROUP      a child cgroup of the cgroup v2 mount (never the root);
//                                its processes are killed at the end
//   PORTAUTH_SANDBOX_PIN_DIR     a pin dir on a bpffs mounted in the temp dir
//   PORTAUTH_SANDBOX_POLICY_DIR  an empty policy dir, root:root 0755
//   PORTAUTH_RUNTIME_DIR, PORTAUTH_STATE_DIR   in the temp dir, so no state
//                                reaches /run/portauth or /var/lib/portauth
//   PORTAUTH_JOURNAL_SOCKET      a socket path in the temp dir nobody listens on
// and the policy enforced there is unloaded at the end.
//
// Exit status: CMD's (128+N when a signal N ended it); 125 when the sandbox
// cannot be made (the line says why); 2 on usage.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "../integration/sandbox.hpp"

namespace {

volatile sig_atomic_t g_child = 0;

void forward(int sig) {
    if (g_child > 0) kill(g_child, sig);
}

int run(char** argv) {
    sandbox::Sandbox sb;
    if (sb.tmp().empty()) {
        std::fprintf(stderr, "portauth-sandbox: needs root (cgroups, bpffs, a network namespace)\n");
        return 125;
    }
    setenv("PORTAUTH_SANDBOX_DIR", sb.tmp().c_str(), 1);
    setenv("PORTAUTH_SANDBOX_CGROUP", sb.cgroup().c_str(), 1);
    setenv("PORTAUTH_SANDBOX_PIN_DIR", sb.pin_dir().c_str(), 1);
    setenv("PORTAUTH_SANDBOX_POLICY_DIR", sb.policy_dir().c_str(), 1);

    struct sigaction sa {};
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

    const pid_t child = fork();
    if (child < 0) {
        std::fprintf(stderr, "portauth-sandbox: fork: %s\n", std::strerror(errno));
        return 125;
    }
    if (child == 0) {
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
        execvp(argv[0], argv);
        std::fprintf(stderr, "portauth-sandbox: cannot run %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    g_child = child;
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    g_child = 0;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 125;
}

}  // namespace

int main(int argc, char** argv) {
    int first = 1;
    if (first < argc && std::strcmp(argv[first], "--") == 0) ++first;
    if (first >= argc || argv[first][0] == '-') {
        std::fprintf(stderr, "usage: portauth-sandbox [--] CMD [ARG...]\n");
        return 2;
    }
    try {
        return run(argv + first);   // the sandbox is gone when run returns
    } catch (const std::exception& e) {
        std::fprintf(stderr, "portauth-sandbox: cannot make the sandbox: %s\n", e.what());
        return 125;
    }
}
