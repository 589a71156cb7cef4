#include "policy/tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "common/fd.hpp"
#include "common/path.hpp"
#include "common/small_file.hpp"
#include "policy/acl_reader.hpp"
#include "policy/byuid_grammar.hpp"
#include "policy/conf_grammar.hpp"
#include "policy/leaf_names.hpp"

namespace portauth {

namespace {

constexpr mode_t kGroupOtherWrite = S_IWGRP | S_IWOTH;

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// Entry names of an open directory, sorted, without "." and "..". Fails
// once more than `budget` names are seen, so a huge directory is never
// read into memory whole.
Result<std::vector<std::string>> list_dir(int dirfd, const std::string& path, size_t budget, bool& over_budget) {
    over_budget = false;
    const int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return sys_error("cannot read directory '" + path + "'");
    DIR* raw = fdopendir(dup);
    if (!raw) {
        const int e = errno;
        close(dup);
        return sys_error("cannot read directory '" + path + "'", e);
    }
    const DirPtr dir(raw);
    rewinddir(raw);  // the duplicate shares its offset with dirfd
    std::vector<std::string> names;
    for (;;) {
        errno = 0;
        const dirent* ent = readdir(raw);
        if (!ent) {
            if (errno != 0) return sys_error("cannot read directory '" + path + "'");
            break;
        }
        if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
        if (names.size() >= budget) {
            over_budget = true;
            return names;
        }
        names.emplace_back(ent->d_name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// An open policy file: its fd, its stat, and whether the fd is O_PATH only
// (we could not open it for reading, e.g. an unprivileged test reading a
// --x entry; its ACL is then read through /proc/self/fd).
struct OpenedFile {
    Fd fd;
    struct stat st {};
    bool path_only = false;
};

Result<AccessSpec> read_access(const OpenedFile& file, const std::string& path) {
    auto acl = read_acl(file.fd.get(), file.st.st_mode, path, file.path_only ? AclFd::path_only : AclFd::readable);
    if (!acl) return acl.error();
    return access_spec_of(*acl, file.st.st_uid, file.st.st_gid);
}

Result<std::string> read_content(const OpenedFile& file, const std::string& path, size_t max_bytes, const char* limit_name) {
    const auto too_big = [&] {
        return logic_error(path + ": larger than " + std::to_string(max_bytes) + " bytes (" + limit_name + ", the limit)");
    };
    if (static_cast<uint64_t>(file.st.st_size) > max_bytes) return too_big();
    auto content = read_up_to(file.fd.get(), max_bytes + 1, path);
    if (!content) return content.error();
    if (content->size() > max_bytes) return too_big();  // it grew since fstat
    return content;
}

// The order load_policy promises (tree.hpp): ports, then addresses, then
// rank; uids; reservations by proto, ports, address; disabled by file.
void sort_entries(Policy& p) {
    std::sort(p.port_grants.begin(), p.port_grants.end(), [](const PortGrant& a, const PortGrant& b) {
        return std::tie(a.port, a.origin.file) < std::tie(b.port, b.origin.file);
    });
    std::sort(p.addr_grants.begin(), p.addr_grants.end(), [](const AddrGrant& a, const AddrGrant& b) {
        return std::tie(a.port, a.addr, a.rank, a.origin.file) < std::tie(b.port, b.addr, b.rank, b.origin.file);
    });
    std::sort(p.uid_grants.begin(), p.uid_grants.end(), [](const UidGrantFile& a, const UidGrantFile& b) {
        return std::tie(a.uid, a.bang, a.origin.file) < std::tie(b.uid, b.bang, b.origin.file);
    });
    std::sort(p.reservations.begin(), p.reservations.end(), [](const Reservation& a, const Reservation& b) {
        return std::tie(a.proto, a.port_min, a.port_max, a.addr) < std::tie(b.proto, b.port_min, b.port_max, b.addr);
    });
    std::sort(p.disabled.begin(), p.disabled.end(),
              [](const DisabledEntry& a, const DisabledEntry& b) { return a.origin.file < b.origin.file; });
}

// Which tree a Loader reads: the policy dir, or an authbind tree merged
// under it, which holds grants only.
enum class TreeKind { policy_dir, authbind };

class Loader {
public:
    Loader(std::string root, const TreeOptions& options, TreeKind kind = TreeKind::policy_dir)
        : root_(std::move(root)), options_(options), kind_(kind) {}

    Result<Policy> load(const std::string& dir_as_given);

private:
    std::string path_of(std::string_view rel) const { return rel.empty() ? root_ : join_path(root_, rel); }

    Error at(const std::string& rel, const std::string& what) const { return logic_error(path_of(rel) + ": " + what); }

    bool trusted_owner(uid_t uid) const { return uid == 0 || uid == options_.owner_uid; }
    std::string trusted_name() const {
        return options_.owner_uid == 0 ? "root" : "root or uid " + std::to_string(options_.owner_uid);
    }

    Status check_owner(const struct stat& st, const std::string& rel) const;
    Status check_not_writable(const struct stat& st, const std::string& rel) const;
    Status check_ancestors() const;

    Result<std::vector<std::string>> list(int dirfd, const std::string& rel);
    Result<Fd> open_dir(int parent, const std::string& name, const std::string& rel);
    // `entry`: a byport, byaddr or reserve entry, whose write bits are judged
    // by admit_entry (a problem there disables the entry) instead of here.
    Result<OpenedFile> open_file(int dirfd, const std::string& name, const std::string& rel, bool need_content,
                                 bool entry = false);
    // Fail closed, per entry (see DisabledEntry in model.hpp): an entry that
    // someone other than root can change. Returns the access to compile:
    // `read` when the entry is sound, else its closed form, and records why.
    AccessSpec admit_entry(const OpenedFile& file, const std::string& rel, AccessSpec read, bool reservation);
    // A byport, byaddr or reserve entry whose name is sound: opened, its ACL
    // read and admitted (admit_entry).
    Result<AccessSpec> entry_access(int dirfd, const std::string& name, const std::string& rel, bool reservation);

    Status load_byport(int dirfd);
    Status load_byaddr(int dirfd);
    Status load_byuid(int dirfd);
    Status load_reserve(int dirfd);
    Status load_conf(int rootfd);

    std::string root_;   // absolute, symlinks in the ancestors resolved
    TreeOptions options_;
    TreeKind kind_;
    size_t entries_ = 0;
    Policy policy_;
};

Status Loader::check_owner(const struct stat& st, const std::string& rel) const {
    if (trusted_owner(st.st_uid)) return {};
    return at(rel, "owned by uid " + std::to_string(st.st_uid) + ", not " + trusted_name() + "; run: chown root '" +
                       path_of(rel) + "'");
}

Status Loader::check_not_writable(const struct stat& st, const std::string& rel) const {
    if (!(st.st_mode & kGroupOtherWrite)) return {};
    return at(rel, "writable by group or other (mode " + octal_mode(st.st_mode) + "); run: chmod go-w '" + path_of(rel) + "'");
}

// Like sshd's StrictModes: whoever can write a directory on the way to the
// policy can swap the policy, so each ancestor must be root's and not
// writable by others - unless sticky (/tmp), where others cannot rename ours.
Status Loader::check_ancestors() const {
    std::vector<std::string> ancestors;
    for (std::string p = root_; p != "/";) {
        const auto slash = p.rfind('/');
        p = slash == 0 ? "/" : p.substr(0, slash);
        ancestors.push_back(p);
    }
    for (auto it = ancestors.rbegin(); it != ancestors.rend(); ++it) {
        struct stat st;
        if (lstat(it->c_str(), &st) != 0) return sys_error("cannot check '" + *it + "', an ancestor of '" + root_ + "'");
        if (!trusted_owner(st.st_uid))
            return logic_error(*it + ": owned by uid " + std::to_string(st.st_uid) + ", not " + trusted_name() +
                               "; a policy dir must sit under directories only root can change");
        if ((st.st_mode & kGroupOtherWrite) && !(st.st_mode & S_ISVTX))
            return logic_error(*it + ": writable by group or other and not sticky (mode " + octal_mode(st.st_mode) +
                               "); a policy dir must sit under directories only root can change");
    }
    return {};
}

Result<std::vector<std::string>> Loader::list(int dirfd, const std::string& rel) {
    bool over = false;
    auto names = list_dir(dirfd, path_of(rel), kMaxTreeEntries - entries_, over);
    if (!names) return names.error();
    if (over)
        return logic_error(root_ + ": more than " + std::to_string(kMaxTreeEntries) + " entries in the policy tree (the limit)");
    entries_ += names->size();
    return names;
}

Result<Fd> Loader::open_dir(int parent, const std::string& name, const std::string& rel) {
    struct stat st;
    if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return sys_error("cannot stat '" + path_of(rel) + "'");
    if (S_ISLNK(st.st_mode)) return at(rel, "is a symbolic link; the policy tree must not contain symlinks");
    if (!S_ISDIR(st.st_mode)) return at(rel, "not a directory");
    Fd fd(openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ELOOP || errno == ENOTDIR) return at(rel, "changed while being read (now a symbolic link or not a directory)");
        return sys_error("cannot open '" + path_of(rel) + "'");
    }
    if (fstat(fd.get(), &st) != 0) return sys_error("cannot stat '" + path_of(rel) + "'");
    PA_TRY(check_owner(st, rel));
    PA_TRY(check_not_writable(st, rel));
    return fd;
}

Result<OpenedFile> Loader::open_file(int dirfd, const std::string& name, const std::string& rel, bool need_content,
                                     bool entry) {
    OpenedFile file;
    // O_NONBLOCK: should a FIFO appear in the file's place, opening it must not hang.
    file.fd.reset(openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!file.fd && errno == EACCES && !need_content) {
        file.fd.reset(openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        file.path_only = true;
    }
    if (!file.fd) {
        if (errno == ELOOP) return at(rel, "is a symbolic link; the policy tree must not contain symlinks");
        return sys_error("cannot open '" + path_of(rel) + "'");
    }
    if (fstat(file.fd.get(), &file.st) != 0) return sys_error("cannot stat '" + path_of(rel) + "'");
    if (S_ISLNK(file.st.st_mode)) return at(rel, "is a symbolic link; the policy tree must not contain symlinks");
    if (S_ISDIR(file.st.st_mode)) return at(rel, "is a directory; only plain files belong here");
    if (!S_ISREG(file.st.st_mode)) return at(rel, "not a regular file; policy entries must be plain files");
    if (!entry) PA_TRY(check_not_writable(file.st, rel));
    return file;
}

// Which problems cost the entry alone, and why these: the directories of the
// tree are root's and not writable by others (checked, whole-tree refusal),
// so nobody but root can create, rename, remove or replace an entry - a bad
// name, a symlink, a FIFO or a directory in its place is root's own doing
// and still refuses the whole tree. What a user CAN do to an entry is what
// its owner (authbind lets a user own the entry that names them) or a group
// or other class with write access can do: change its mode bits (chmod), its
// ACL (setfacl; the group bits of st_mode are then the ACL mask) and its
// content. Content does not matter for these entries; bits that let group or
// other write mean the entry is no longer the admin's word. Such an entry is
// kept in its closed form, so the rest of the policy loads and an attacker's
// chmod can never switch enforcement off: a grant lets nobody through (it
// still exists, so in authbind's order it still decides and a byaddr or
// byuid grant behind it is not consulted), a reservation still reserves its
// port, for root only (uid 0, even with root-exempt = no) - not for the
// owners it had when it was last applied, because at boot there is no
// "last applied" and the answer must not depend on history.
AccessSpec Loader::admit_entry(const OpenedFile& file, const std::string& rel, AccessSpec read, bool reservation) {
    if (!(file.st.st_mode & kGroupOtherWrite)) return read;
    std::string reason = "writable by group or other (mode " + octal_mode(file.st.st_mode) + "); disabled, it fails closed (" +
                         (reservation ? "reserved for root only" : "grants nobody") + "); run: chmod go-w '" + path_of(rel) +
                         "' (and setfacl -m m::r-x if it has an ACL), then portauth apply";
    if (file.st.st_uid != 0)
        reason += "; the entry is owned by uid " + std::to_string(file.st.st_uid) + ", who can change it again: chown root '" +
                  path_of(rel) + "' to stop that";
    policy_.disabled.push_back(DisabledEntry{Origin{rel, 0}, std::move(reason)});
    AccessSpec closed;
    closed.owner_uid = reservation ? 0 : read.owner_uid;
    closed.owner_gid = reservation ? 0 : read.owner_gid;
    closed.owner_x = reservation;
    return closed;
}

Result<AccessSpec> Loader::entry_access(int dirfd, const std::string& name, const std::string& rel, bool reservation) {
    auto file = open_file(dirfd, name, rel, false, true);
    if (!file) return file.error();
    auto access = read_access(*file, path_of(rel));
    if (!access) return access.error();
    return admit_entry(*file, rel, std::move(*access), reservation);
}

// byport/PORT, byport/!PORT (leaf_names.hpp): the entry's access decides.
Status Loader::load_byport(int dirfd) {
    auto names = list(dirfd, "byport");
    if (!names) return names.error();
    for (const auto& name : *names) {
        const std::string rel = "byport/" + name;
        const auto port = parse_byport_name(name);
        if (!port) return at(rel, port.error().what);
        auto access = entry_access(dirfd, name, rel, false);
        if (!access) return access.error();
        policy_.port_grants.push_back(PortGrant{*port, std::move(*access), Origin{rel, 0}});
    }
    return {};
}

// byaddr/[!]ADDR,PORT, byaddr/[!]ADDR4:PORT (leaf_names.hpp), spelled
// exactly as authbind spells the name when it looks.
Status Loader::load_byaddr(int dirfd) {
    auto names = list(dirfd, "byaddr");
    if (!names) return names.error();
    for (const auto& name : *names) {
        const std::string rel = "byaddr/" + name;
        const auto entry = parse_byaddr_name(name);
        if (!entry) return at(rel, entry.error().what);
        auto access = entry_access(dirfd, name, rel, false);
        if (!access) return access.error();
        policy_.addr_grants.push_back(AddrGrant{entry->addr, entry->port, entry->rank, std::move(*access), Origin{rel, 0}});
    }
    return {};
}

// byuid/UID, byuid/!UID: root's files whose lines (byuid_grammar.hpp) are the grant.
Status Loader::load_byuid(int dirfd) {
    auto names = list(dirfd, "byuid");
    if (!names) return names.error();
    for (const auto& name : *names) {
        const std::string rel = "byuid/" + name;
        const auto entry = parse_byuid_name(name);
        if (!entry) return at(rel, entry.error().what);
        auto file = open_file(dirfd, name, rel, true);
        if (!file) return file.error();
        PA_TRY(check_owner(file->st, rel));
        const std::string path = path_of(rel);
        auto content = read_content(*file, path, kMaxUidFileBytes, "1 MiB");
        if (!content) return content.error();
        auto lines = parse_uid_file(*content, path);
        if (!lines) return lines.error();
        for (auto& line : *lines) line.origin.file = rel;
        policy_.uid_grants.push_back(UidGrantFile{entry->uid, entry->bang, std::move(*lines), Origin{rel, 0}});
    }
    return {};
}

// reserve/tcp/..., reserve/udp/...: names as reserve_entry_path spells them.
Status Loader::load_reserve(int dirfd) {
    auto protos = list(dirfd, "reserve");
    if (!protos) return protos.error();
    for (const auto& proto_dir : *protos) {
        const std::string proto_rel = "reserve/" + proto_dir;
        const auto proto = parse_reserve_dir_name(proto_dir);
        if (!proto) return at(proto_rel, proto.error().what);
        auto protofd = open_dir(dirfd, proto_dir, proto_rel);
        if (!protofd) return protofd.error();
        auto names = list(protofd->get(), proto_rel);
        if (!names) return names.error();
        for (const auto& name : *names) {
            const std::string rel = proto_rel + "/" + name;
            auto spec = parse_reserve_name(*proto, name);
            if (!spec) return at(rel, spec.error().what);
            auto access = entry_access(protofd->get(), name, rel, true);
            if (!access) return access.error();
            policy_.reservations.push_back(
                Reservation{spec->proto, spec->port_min, spec->port_max, spec->addr, std::move(*access), Origin{rel, 0}});
        }
    }
    return {};
}

// portauth.conf (conf_grammar.hpp).
Status Loader::load_conf(int rootfd) {
    const std::string rel = "portauth.conf";
    const std::string path = path_of(rel);
    auto file = open_file(rootfd, rel, rel, true);
    if (!file) return file.error();
    PA_TRY(check_owner(file->st, rel));
    auto content = read_content(*file, path, kMaxConfBytes, "64 KiB");
    if (!content) return content.error();
    auto settings = parse_conf(*content, path);
    if (!settings) return settings.error();
    policy_.settings = *settings;
    return {};
}

Result<Policy> Loader::load(const std::string& dir_as_given) {
    PA_TRY(check_ancestors());

    struct stat st;
    if (lstat(root_.c_str(), &st) != 0) return sys_error("cannot open policy dir '" + root_ + "'");
    if (S_ISLNK(st.st_mode)) return at("", "is a symbolic link; name the directory it points to instead");
    if (!S_ISDIR(st.st_mode)) return at("", "not a directory");
    Fd rootfd(open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!rootfd) return sys_error("cannot open policy dir '" + root_ + "'");
    if (fstat(rootfd.get(), &st) != 0) return sys_error("cannot stat '" + root_ + "'");
    PA_TRY(check_owner(st, ""));
    PA_TRY(check_not_writable(st, ""));

    auto names = list(rootfd.get(), "");
    if (!names) return names.error();
    for (const auto& name : *names) {
        const auto entry = parse_policy_dir_name(name);
        if (!entry) return at(name, entry.error().what);
        if (kind_ == TreeKind::authbind && (*entry == PolicyDirEntry::reserve || *entry == PolicyDirEntry::conf))
            return at(name, "an authbind tree holds grants only (byport, byaddr, byuid); reservations and portauth.conf "
                            "are read from the policy dir, so move it there");
        switch (*entry) {
            case PolicyDirEntry::byport:
            case PolicyDirEntry::byaddr:
            case PolicyDirEntry::byuid:
            case PolicyDirEntry::reserve: {
                auto dirfd = open_dir(rootfd.get(), name, name);
                if (!dirfd) return dirfd.error();
                if (*entry == PolicyDirEntry::byport) PA_TRY(load_byport(dirfd->get()));
                if (*entry == PolicyDirEntry::byaddr) PA_TRY(load_byaddr(dirfd->get()));
                if (*entry == PolicyDirEntry::byuid) PA_TRY(load_byuid(dirfd->get()));
                if (*entry == PolicyDirEntry::reserve) PA_TRY(load_reserve(dirfd->get()));
                break;
            }
            case PolicyDirEntry::conf: PA_TRY(load_conf(rootfd.get())); break;
            case PolicyDirEntry::readme: {
                auto file = open_file(rootfd.get(), name, name, false);
                if (!file) return file.error();
                break;
            }
        }
    }

    sort_entries(policy_);
    PA_TRY(check_reservation_overlaps(root_, policy_.reservations));

    policy_.dir = dir_as_given;
    return std::move(policy_);
}

// The absolute path of the policy dir with its ancestors' symlinks resolved
// but not its own last component, so that a symlinked policy dir is seen.
Result<std::string> absolute_root(const std::string& dir) {
    std::string s = dir;
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    const auto slash = s.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : s.substr(0, slash);
    const std::string base = slash == std::string::npos ? s : s.substr(slash + 1);
    char buf[PATH_MAX];
    if (s == "/" || base == "." || base == "..") {
        if (!realpath(s.c_str(), buf)) return sys_error("cannot open policy dir '" + dir + "'");
        return std::string(buf);
    }
    if (!realpath(parent.c_str(), buf)) return sys_error("cannot open policy dir '" + dir + "'");
    return join_path(buf, base);
}

}  // namespace

Status check_reservation_overlaps(const std::string& root, const std::vector<Reservation>& reservations) {
    std::vector<const Reservation*> sorted;
    sorted.reserve(reservations.size());
    for (const auto& r : reservations) sorted.push_back(&r);
    std::sort(sorted.begin(), sorted.end(), [](const Reservation* a, const Reservation* b) {
        return std::tie(a->proto, a->addr, a->port_min, a->port_max, a->origin.file) <
               std::tie(b->proto, b->addr, b->port_min, b->port_max, b->origin.file);
    });
    // Within one (proto, address) group sorted by port_min, an entry overlaps
    // an earlier one exactly when it starts at or before the furthest end seen.
    const Reservation* widest = nullptr;
    for (const Reservation* r : sorted) {
        if (widest && widest->proto == r->proto && widest->addr == r->addr && r->port_min <= widest->port_max) {
            const uint16_t lo = r->port_min, hi = std::min(r->port_max, widest->port_max);
            const std::string ports = lo == hi ? "port " + std::to_string(lo) : "ports " + std::to_string(lo) + "-" + std::to_string(hi);
            const std::string where = r->addr ? "on " + r->addr->str() : "on every address";
            return logic_error(join_path(root, r->origin.file) + " overlaps " + join_path(root, widest->origin.file) + ": both reserve " +
                               proto_name(r->proto) + " " + ports + " " + where + "; remove one or narrow its range");
        }
        if (!widest || widest->proto != r->proto || widest->addr != r->addr || r->port_max > widest->port_max) widest = r;
    }
    return {};
}

Result<Policy> load_policy(const std::string& dir) { return load_policy(dir, TreeOptions{}); }

Result<Policy> load_policy(const std::string& dir, const TreeOptions& options) {
    if (dir.empty()) return logic_error("the policy dir name is empty");
    auto root = absolute_root(dir);
    if (!root) return root.error();
    Loader loader(std::move(*root), options);
    return loader.load(dir);
}

Result<Policy> load_policy(const PolicySources& sources, const TreeOptions& options) {
    auto upper = load_policy(sources.policy_dir, options);
    if (!upper || sources.authbind_dir.empty()) return upper;
    struct stat st;
    if (lstat(sources.authbind_dir.c_str(), &st) != 0 && errno == ENOENT) return upper;   // authbind is not installed
    auto lower_root = absolute_root(sources.authbind_dir);
    if (!lower_root) return lower_root.error();
    auto upper_root = absolute_root(sources.policy_dir);
    if (!upper_root) return upper_root.error();
    if (*lower_root == *upper_root) return upper;   // one tree named twice
    Loader loader(*lower_root, options, TreeKind::authbind);
    auto lower = loader.load(sources.authbind_dir);
    if (!lower) return lower.error();
    return merge_policies(std::move(*upper), std::move(*lower), *lower_root);
}

Policy merge_policies(Policy upper, Policy lower, const std::string& lower_root) {
    std::set<std::string> upper_files;
    for (const auto& g : upper.port_grants) upper_files.insert(g.origin.file);
    for (const auto& g : upper.addr_grants) upper_files.insert(g.origin.file);
    for (const auto& f : upper.uid_grants) upper_files.insert(f.origin.file);
    std::set<std::string> shadowed;
    // Keeps an entry of the lower tree unless the upper one has its file;
    // a kept entry is renamed to its absolute path.
    const auto keep = [&](Origin& origin) {
        if (upper_files.count(origin.file)) {
            shadowed.insert(join_path(lower_root, origin.file));
            return false;
        }
        origin.file = join_path(lower_root, origin.file);
        return true;
    };
    for (auto& g : lower.port_grants)
        if (keep(g.origin)) upper.port_grants.push_back(std::move(g));
    for (auto& g : lower.addr_grants)
        if (keep(g.origin)) upper.addr_grants.push_back(std::move(g));
    for (auto& f : lower.uid_grants) {
        if (!keep(f.origin)) continue;
        for (auto& line : f.lines) line.origin.file = f.origin.file;
        upper.uid_grants.push_back(std::move(f));
    }
    for (auto& d : lower.disabled)
        if (keep(d.origin)) upper.disabled.push_back(std::move(d));
    sort_entries(upper);
    upper.shadowed.assign(shadowed.begin(), shadowed.end());
    upper.authbind_dir = lower_root;
    return upper;
}

const std::string& tree_of(const Policy& policy, const Origin& origin) {
    return origin.in_policy_dir() ? policy.dir : policy.authbind_dir;
}

std::string default_authbind_dir(const std::string& policy_dir) {
    // secure_getenv, as for the policy dir.
    if (const char* env = secure_getenv("PORTAUTH_AUTHBIND_DIR")) return env;
    return policy_dir == kDefaultPolicyDir ? kDefaultAuthbindDir : "";
}

std::string default_policy_dir() {
    // secure_getenv: a set-id caller must not let its invoker pick the policy.
    const char* env = secure_getenv("PORTAUTH_POLICY_DIR");
    if (env && *env) return env;
    return kDefaultPolicyDir;
}

}  // namespace portauth
