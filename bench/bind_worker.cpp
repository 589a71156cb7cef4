// One process doing socket()+bind()+close() in a loop; prints the mean cost
// of one iteration in nanoseconds, or the errno of the first failed bind.
// Usage: bind_worker PROTO PORT COUNT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: bind_worker tcp|udp PORT COUNT\n");
        return 100;
    }
    const int type = std::strcmp(argv[1], "tcp") == 0 ? SOCK_STREAM : SOCK_DGRAM;
    const int port = std::atoi(argv[2]);
    const long count = std::atol(argv[3]);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < count; ++i) {
        int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            std::printf("error %s\n", std::strerror(errno));
            return 1;
        }
        close(s);
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.1f\n", ns / static_cast<double>(count));
    return 0;
}
