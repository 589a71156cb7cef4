// Turns on the kernel's BPF run-time statistics (BPF_ENABLE_STATS, the
// fd-scoped form: nothing global is left on) for as long as it runs. Prints
// "ready" once enabled; exits when stdin closes.
// Usage: bpf_stats_hold < fifo-or-pipe
#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main() {
    int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd < 0) {
        std::fprintf(stderr, "bpf_stats_hold: BPF_ENABLE_STATS: %s\n", std::strerror(errno));
        return 111;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    close(fd);
    return 0;
}
