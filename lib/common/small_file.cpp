#include "common/small_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/fd.hpp"

namespace portauth {

Result<std::string> read_up_to(int fd, size_t limit, const std::string& path) {
    std::string content;
    char buffer[4096];
    while (content.size() < limit) {
        const size_t want = std::min(sizeof buffer, limit - content.size());
        const ssize_t n = ::read(fd, buffer, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("cannot read '" + path + "'");
        }
        if (n == 0) break;
        content.append(buffer, static_cast<size_t>(n));
    }
    return content;
}

Result<std::string> read_small_file(const std::string& path, size_t limit) {
    const Fd file(::open(path.c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC));
    if (!file) return sys_error("cannot open '" + path + "'");
    return read_up_to(file.get(), limit, path);
}

}  // namespace portauth
