#include "common/journal.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "common/fd.hpp"
#include "common/parse.hpp"

namespace portauth {

namespace {

constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
constexpr size_t kMaxValue = 64 * 1024;

bool valid_name(const std::string& n) {
    if (n.empty() || n.size() > 64 || n[0] == '_' || (n[0] >= '0' && n[0] <= '9')) return false;
    for (char c : n)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

void append_field(std::string& out, const std::string& name, const std::string& raw) {
    const std::string value = raw.size() > kMaxValue ? raw.substr(0, kMaxValue) : raw;
    if (value.find('\n') == std::string::npos) {
        out.append(name).append("=").append(value).append("\n");
        return;
    }
    out.append(name).append("\n");
    uint64_t len = value.size();
    for (int i = 0; i < 8; ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
    out.append(value).append("\n");
}

}  // namespace

bool journal_send(Priority priority, const std::string& identifier, const std::string& message, const std::vector<JournalField>& fields) {
    const char* env = ::secure_getenv("PORTAUTH_JOURNAL_SOCKET");
    const std::string path = env ? env : kJournalSocket;
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    std::string dgram;
    append_field(dgram, "MESSAGE", message);
    append_field(dgram, "PRIORITY", std::to_string(static_cast<int>(priority)));
    append_field(dgram, "SYSLOG_IDENTIFIER", identifier);
    for (const auto& f : fields)
        if (valid_name(f.name)) append_field(dgram, f.name, f.value);
    Fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) return false;
    ssize_t n;
    do {
        n = ::sendto(s.get(), dgram.data(), dgram.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(dgram.size());
}

bool fd_is_journal_stream(int fd) {
    const char* env = ::getenv("JOURNAL_STREAM");
    if (!env) return false;
    const std::string v = env;
    const auto colon = v.find(':');
    if (colon == std::string::npos) return false;
    const auto dev = parse_decimal(v.substr(0, colon), UINT64_MAX);
    const auto ino = parse_decimal(v.substr(colon + 1), UINT64_MAX);
    struct stat st {};
    if (!dev || !ino || ::fstat(fd, &st) != 0) return false;
    return static_cast<uint64_t>(st.st_dev) == *dev && static_cast<uint64_t>(st.st_ino) == *ino;
}

}  // namespace portauth
