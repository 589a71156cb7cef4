#include "engine/last_good.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "common/atomic_file.hpp"
#include "common/fd.hpp"
#include "common/parse.hpp"
#include "engine/system.hpp"
#include "policy/snapshot.hpp"

namespace portauth {

namespace {

constexpr const char* kHeader = "portauth-last-good 1";
constexpr off_t kMaxBytes = off_t{512} << 20;   // far above the tree's limits (tree.hpp)

// The first line "KEY VALUE" of `text` at `pos`; advances pos.
std::optional<std::string> header_value(const std::string& text, size_t& pos, const std::string& key) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) return std::nullopt;
    const std::string line = text.substr(pos, nl - pos);
    if (line.rfind(key + " ", 0) != 0) return std::nullopt;
    pos = nl + 1;
    return line.substr(key.size() + 1);
}

Status check_private(const struct stat& st, const std::string& path, bool dir) {
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return logic_error("'" + path + "' is not a " + (dir ? "directory" : "regular file"));
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        return logic_error("'" + path + "' is owned by uid " + std::to_string(st.st_uid) + ", not root; not trusted");
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return logic_error("'" + path + "' is writable by group or other; not trusted");
    return {};
}

}  // namespace

std::string state_dir() {
    const char* env = ::secure_getenv("PORTAUTH_STATE_DIR");
    return env && *env ? env : kDefaultStateDir;
}

std::string last_good_path(const std::string& pin_dir) { return state_dir() + "/" + pin_dir_file_name(pin_dir) + ".policy"; }

Status save_last_good(const Policy& policy, const std::string& cgroup, const std::string& pin_dir) {
    const std::string dir = state_dir();
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("cannot create '" + dir + "'");
    struct stat dst {};
    if (::lstat(dir.c_str(), &dst) != 0) return sys_error("cannot stat '" + dir + "'");
    PA_TRY(check_private(dst, dir, true));
    const std::string body = serialize_policy(policy);
    const std::string text = std::string(kHeader) + "\nsaved_at " + std::to_string(std::time(nullptr)) + "\npolicy_dir " +
                             percent_encode(policy.dir) + "\ncgroup " + percent_encode(cgroup) + "\nhash " + policy_hash(policy) + "\n" + body;
    return write_file_atomically(last_good_path(pin_dir), text, 0600);
}

Result<LastGood> load_last_good(const std::string& pin_dir) {
    const std::string dir = state_dir(), path = last_good_path(pin_dir);
    struct stat dst {};
    if (::lstat(dir.c_str(), &dst) != 0) return sys_error("cannot read '" + path + "'");
    PA_TRY(check_private(dst, dir, true));
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return sys_error("cannot read '" + path + "'");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error("cannot stat '" + path + "'");
    PA_TRY(check_private(st, path, false));
    if (st.st_size > kMaxBytes) return logic_error("'" + path + "' is larger than " + std::to_string(kMaxBytes >> 20) + " MiB");
    std::string text(static_cast<size_t>(st.st_size), '\0');
    for (size_t off = 0; off < text.size();) {
        const ssize_t n = ::read(fd.get(), text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("cannot read '" + path + "'");
        if (n == 0) return logic_error("'" + path + "' shrank while being read");
        off += static_cast<size_t>(n);
    }
    size_t pos = 0;
    const std::string bad = "'" + path + "' is not a portauth last-good file";
    if (text.rfind(std::string(kHeader) + "\n", 0) != 0) return logic_error(bad + " (its first line is not '" + kHeader + "')");
    pos = std::string(kHeader).size() + 1;
    auto saved = header_value(text, pos, "saved_at");
    auto policy_dir = header_value(text, pos, "policy_dir");
    auto cgroup = header_value(text, pos, "cgroup");
    auto hash = header_value(text, pos, "hash");
    if (!saved || !policy_dir || !cgroup || !hash) return logic_error(bad + " (a header line is missing)");
    auto policy = parse_policy(std::string_view(text).substr(pos), "'" + path + "'");
    if (!policy) return policy.error();
    LastGood lg;
    lg.policy = std::move(*policy);
    lg.policy.dir = percent_decode(*policy_dir).value_or("");
    lg.hash = policy_hash(lg.policy);
    if (lg.hash != *hash) return logic_error("'" + path + "' is damaged: its policy does not match the hash it records");
    lg.saved_at = static_cast<int64_t>(parse_decimal(*saved, INT64_MAX).value_or(0));
    lg.cgroup = percent_decode(*cgroup).value_or("");
    return lg;
}

EnforcedPolicy enforced_policy(const EngineStatus& status, const std::string& pin_dir) {
    EnforcedPolicy e;
    if (!status.active) {
        e.why_not = "nothing is enforced at " + pin_dir;
        return e;
    }
    if (status.tree_hash.empty()) {
        e.why_not = "the enforced policy records no hash (applied by an older portauth)";
        return e;
    }
    auto last = load_last_good(pin_dir);
    if (!last) {
        e.why_not = "the enforced policy is not on record (" + last.error().message() + ")";
        return e;
    }
    if (last->hash != status.tree_hash) {
        e.why_not = "the enforced policy is not on record (the last good policy at " + last_good_path(pin_dir) + " is another one)";
        return e;
    }
    e.policy = std::move(last->policy);
    return e;
}

}  // namespace portauth
