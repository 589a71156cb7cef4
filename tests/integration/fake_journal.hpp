// A journal for tests: a datagram socket bound at a path (what
// $PORTAUTH_JOURNAL_SOCKET names), read with the native protocol's rules
// (FIELD=value, or FIELD\n + 64-bit little-endian length + bytes for a value
// with a newline), as systemd.journal-fields(7) describes it.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace fake_journal {

using Entry = std::map<std::string, std::string>;

// A journal that keeps what it is sent.
class FakeJournal {
public:
    explicit FakeJournal(const std::string& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind " + path);
    }
    ~FakeJournal() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    FakeJournal(const FakeJournal&) = delete;
    FakeJournal& operator=(const FakeJournal&) = delete;

    // Every entry received since the last call.
    std::vector<Entry> take() {
        std::vector<Entry> out;
        std::string buf(1 << 20, '\0');
        for (;;) {
            const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
            if (n < 0) break;
            out.push_back(parse(buf.substr(0, static_cast<size_t>(n))));
        }
        return out;
    }

private:
    static Entry parse(const std::string& d) {
        Entry e;
        size_t i = 0;
        while (i < d.size()) {
            const size_t nl = d.find('\n', i);
            if (nl == std::string::npos) break;
            const std::string line = d.substr(i, nl - i);
            const size_t eq = line.find('=');
            if (eq != std::string::npos) {
                e[line.substr(0, eq)] = line.substr(eq + 1);
                i = nl + 1;
                continue;
            }
            uint64_t len = 0;
            for (int k = 0; k < 8; ++k) len |= static_cast<uint64_t>(static_cast<unsigned char>(d[nl + 1 + k])) << (8 * k);
            e[line] = d.substr(nl + 9, len);
            i = nl + 9 + len + 1;
        }
        return e;
    }
    std::string path_;
    int fd_ = -1;
};

inline std::vector<Entry> of_event(const std::vector<Entry>& all, const std::string& event) {
    std::vector<Entry> out;
    for (const auto& e : all)
        if (e.count("PORTAUTH_EVENT") && e.at("PORTAUTH_EVENT") == event) out.push_back(e);
    return out;
}

inline std::string field(const Entry& e, const std::string& name) { return e.count(name) ? e.at(name) : "(absent: " + name + ")"; }

}  // namespace fake_journal
