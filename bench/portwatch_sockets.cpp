// bench/portwatch_scan.sh's helper: opens N sockets (half TCP listeners, half
// UDP, on 127.0.0.1 from port BASE up, skipping ports in use), prints
// "ready N" and holds them until stdin closes. Raises RLIMIT_NOFILE itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: portwatch_sockets COUNT BASE_PORT\n");
        return 100;
    }
    const long count = std::strtol(argv[1], nullptr, 10);   // a bench helper, not user-facing
    const long base = std::strtol(argv[2], nullptr, 10);
    rlimit rl{static_cast<rlim_t>(count + 64), static_cast<rlim_t>(count + 64)};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        std::perror("setrlimit");
        return 111;
    }
    long made = 0;
    for (long port = base; made < count && port < 65536; ++port) {
        for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
            if (made >= count) break;
            int s = socket(AF_INET, type, 0);
            if (s < 0) {
                std::perror("socket");
                return 111;
            }
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(static_cast<uint16_t>(port));
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || (type == SOCK_STREAM && listen(s, 16) != 0)) {
                close(s);
                continue;
            }
            ++made;
        }
    }
    std::printf("ready %ld\n", made);
    std::fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}
