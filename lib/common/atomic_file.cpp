#include "common/atomic_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/fd.hpp"

namespace portauth {

namespace {

std::string dir_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string random_suffix() {
    unsigned char bytes[8] = {};
    if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
        // getrandom cannot fail for 8 bytes once the pool is ready; the name
        // only has to be unpredictable enough that O_EXCL rarely collides.
        const auto t = static_cast<unsigned long long>(::getpid()) ^ reinterpret_cast<uintptr_t>(&bytes);
        for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<unsigned char>(t >> (8 * i));
    }
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned char b : bytes) {
        s += hex[b >> 4];
        s += hex[b & 15];
    }
    return s;
}

Status write_all(int fd, const std::string& text, const std::string& what) {
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("cannot write '" + what + "'");
        }
        done += static_cast<size_t>(n);
    }
    return {};
}

}  // namespace

Status write_file_atomically(const std::string& path, const std::string& text, unsigned mode) {
    const std::string dir = dir_of(path);
    Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd) return sys_error("cannot open the directory of '" + path + "'");
    // The temporary: unnamed when the file system can (nothing to plant a
    // symlink at), else a fresh random name that O_EXCL|O_NOFOLLOW refuses
    // to find already there.
    std::string tmp;
    Fd fd(::openat(dirfd.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) {
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT && errno != EINVAL) return sys_error("cannot create a file in '" + dir + "'");
        for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
            tmp = path + ".tmp." + random_suffix();
            fd = Fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (!fd && errno != EEXIST) return sys_error("cannot create '" + tmp + "'");
        }
        if (!fd) return sys_error("cannot create a temporary beside '" + path + "'");
    }
    auto cleanup = [&] {
        if (!tmp.empty()) ::unlink(tmp.c_str());
    };
    const std::string shown = tmp.empty() ? path + " (temporary)" : tmp;
    if (auto st = write_all(fd.get(), text, shown); !st) {
        cleanup();
        return st;
    }
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0 || ::fsync(fd.get()) != 0) {
        auto e = sys_error("cannot write '" + shown + "'");
        cleanup();
        return e;
    }
    if (tmp.empty()) {
        // linkat needs a name that does not exist: link under a random one,
        // then rename it over PATH (rename replaces a symlink, never follows it).
        const std::string proc = "/proc/self/fd/" + std::to_string(fd.get());
        for (int attempt = 0; attempt < 16; ++attempt) {
            tmp = path + ".tmp." + random_suffix();
            if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0) break;
            if (errno != EEXIST) {
                auto e = sys_error("cannot link '" + tmp + "'");
                tmp.clear();
                return e;
            }
            tmp.clear();
        }
        if (tmp.empty()) return logic_error("cannot find a free temporary name beside '" + path + "'");
    }
    if (::close(fd.release()) != 0) {
        auto e = sys_error("cannot write '" + tmp + "'");
        cleanup();
        return e;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto e = sys_error("cannot rename '" + tmp + "' to '" + path + "'");
        cleanup();
        return e;
    }
    (void)::fsync(dirfd.get());
    return {};
}

}  // namespace portauth
