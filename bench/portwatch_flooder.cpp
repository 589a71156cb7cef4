// bench/portwatch_flood.sh's attacker: socket()+bind()+close() on one port for
// SECONDS, whatever bind says; prints how many binds were refused.
// Usage: portwatch_flooder tcp|udp PORT SECONDS
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: portwatch_flooder tcp|udp PORT SECONDS\n");
        return 100;
    }
    const int type = std::strcmp(argv[1], "tcp") == 0 ? SOCK_STREAM : SOCK_DGRAM;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::atof(argv[3]));
    unsigned long refused = 0;
    for (unsigned long i = 0;; ++i) {
        if ((i & 1023) == 0 && std::chrono::steady_clock::now() >= end) break;
        int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        if (s < 0) continue;
        if (bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) ++refused;
        close(s);
    }
    std::printf("%lu\n", refused);
    return 0;
}
