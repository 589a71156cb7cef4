#include "policy/edit.hpp"

#include <acl/libacl.h>
#include <fcntl.h>
#include <sys/acl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include "common/fd.hpp"
#include "common/path.hpp"
#include "policy/acl_reader.hpp"

namespace portauth {

namespace {

// Writes the mask's effect into the group-class entries, so that
// recomputing the mask later gives nobody more than they had.
void apply_mask(FileAcl& m) {
    if (!m.mask) return;
    m.group_obj &= *m.mask;
    for (auto& [id, perms] : m.users) perms &= *m.mask;
    for (auto& [id, perms] : m.groups) perms &= *m.mask;
}

// The mask as setfacl computes it: the union of the group class.
void recompute_mask(FileAcl& m) {
    if (m.users.empty() && m.groups.empty()) {
        m.mask.reset();
        return;
    }
    uint8_t mask = m.group_obj;
    for (const auto& [id, perms] : m.users) mask |= perms;
    for (const auto& [id, perms] : m.groups) mask |= perms;
    m.mask = mask;
}

bool lets_anyone_through(const FileAcl& m) {
    const uint8_t mask = m.mask.value_or(kAclRead | kAclWrite | kAclExecute);
    if ((m.user_obj | m.other) & kAclExecute) return true;
    if (m.group_obj & mask & kAclExecute) return true;
    for (const auto& [id, perms] : m.users)
        if (perms & mask & kAclExecute) return true;
    for (const auto& [id, perms] : m.groups)
        if (perms & mask & kAclExecute) return true;
    return false;
}

// Builds the acl_t for `m` and sets it on the file (which also sets the
// mode's permission bits). An ACL without named entries is the plain mode.
Status write_acl(int fd, const struct stat& st, const FileAcl& m, const std::string& path) {
    acl_t acl = acl_init(static_cast<int>(4 + m.users.size() + m.groups.size()));
    if (!acl) return sys_error("cannot build the ACL for '" + path + "'");
    struct AclGuard {
        acl_t& acl;
        ~AclGuard() { acl_free(acl); }
    } guard{acl};

    const auto add = [&](acl_tag_t tag, const uint32_t* id, uint8_t bits) -> bool {
        acl_entry_t entry;
        acl_permset_t perms;
        if (acl_create_entry(&acl, &entry) != 0 || acl_set_tag_type(entry, tag) != 0) return false;
        if (id) {
            if (tag == ACL_USER) {
                const uid_t uid = *id;
                if (acl_set_qualifier(entry, &uid) != 0) return false;
            } else {
                const gid_t gid = *id;
                if (acl_set_qualifier(entry, &gid) != 0) return false;
            }
        }
        if (acl_get_permset(entry, &perms) != 0 || acl_clear_perms(perms) != 0) return false;
        if ((bits & kAclRead) && acl_add_perm(perms, ACL_READ) != 0) return false;
        if ((bits & kAclWrite) && acl_add_perm(perms, ACL_WRITE) != 0) return false;
        if ((bits & kAclExecute) && acl_add_perm(perms, ACL_EXECUTE) != 0) return false;
        return acl_set_permset(entry, perms) == 0;
    };
    bool ok = add(ACL_USER_OBJ, nullptr, m.user_obj) && add(ACL_GROUP_OBJ, nullptr, m.group_obj) &&
              add(ACL_OTHER, nullptr, m.other);
    for (const auto& [id, bits] : m.users) ok = ok && add(ACL_USER, &id, bits);
    for (const auto& [id, bits] : m.groups) ok = ok && add(ACL_GROUP, &id, bits);
    if (ok && m.mask) ok = add(ACL_MASK, nullptr, *m.mask);
    if (!ok) return sys_error("cannot build the ACL for '" + path + "'");
    if (acl_valid(acl) != 0) return logic_error("internal error: the ACL built for '" + path + "' is not valid");

    if (acl_set_fd(fd, acl) == 0) return {};
    const int e = errno;
    if ((e == ENOTSUP || e == EOPNOTSUPP) && !m.mask) {
        const mode_t mode = (st.st_mode & 07000) | (m.user_obj << 6) | (m.group_obj << 3) | m.other;
        if (fchmod(fd, mode) == 0) return {};
        return sys_error("cannot chmod '" + path + "'");
    }
    if (e == ENOTSUP || e == EOPNOTSUPP)
        return sys_error("cannot set the ACL of '" + path + "' (the file system must support POSIX ACLs)", e);
    return sys_error("cannot set the ACL of '" + path + "'", e);
}

// One edit: the policy dir locked, the tree loaded and found clean.
struct Session {
    std::string dir;
    TreeOptions options;
    Fd root;
    Policy policy;

    std::string path_of(const std::string& rel) const { return join_path(dir, rel); }
};

Result<Session> begin(const std::string& dir, const TreeOptions& options) {
    Fd root(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) {
        const int e = errno;
        auto policy = load_policy(dir, options);  // explains a symlink or a missing dir best
        if (!policy) return policy.error();
        return sys_error("cannot open policy dir '" + dir + "'", e);
    }
    while (flock(root.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return sys_error("cannot lock policy dir '" + dir + "'");
    }
    auto policy = load_policy(dir, options);
    if (!policy) return policy.error();
    return Session{dir, options, std::move(root), std::move(*policy)};
}

// "reserve/udp/5060" -> {"reserve", "udp"} and "5060".
std::pair<std::vector<std::string>, std::string> split_rel(const std::string& rel) {
    std::vector<std::string> dirs;
    size_t start = 0;
    for (size_t slash; (slash = rel.find('/', start)) != std::string::npos; start = slash + 1)
        dirs.push_back(rel.substr(start, slash - start));
    return {dirs, rel.substr(start)};
}

// Opens the directories on the way to an entry, creating missing ones
// (owner:group 0755) when `create`. Returns an invalid Fd when one is
// missing and !create.
Result<Fd> open_parent(const Session& s, const std::vector<std::string>& dirs, bool create) {
    Fd cur(fcntl(s.root.get(), F_DUPFD_CLOEXEC, 0));
    if (!cur) return sys_error("cannot open policy dir '" + s.dir + "'");
    std::string rel;
    for (const auto& name : dirs) {
        rel = rel.empty() ? name : rel + "/" + name;
        const std::string path = s.path_of(rel);
        Fd next(openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next && errno == ENOENT) {
            if (!create) return Fd{};
            // 0700 until it has its owner, then 0755.
            if (mkdirat(cur.get(), name.c_str(), 0700) != 0 && errno != EEXIST)
                return sys_error("cannot create directory '" + path + "'");
            next.reset(openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!next) return sys_error("cannot open '" + path + "'");
            if (fchown(next.get(), s.options.owner_uid, s.options.owner_gid) != 0) return sys_error("cannot chown '" + path + "'");
            if (fchmod(next.get(), 0755) != 0) return sys_error("cannot chmod '" + path + "'");
        }
        if (!next) return sys_error("cannot open '" + path + "'");
        cur = std::move(next);
    }
    return cur;
}

// An existing entry, opened for its ACL.
struct OpenEntry {
    Fd fd;
    struct stat st {};
};

// Returns an invalid fd when the entry does not exist.
Result<OpenEntry> open_entry(int dirfd, const std::string& leaf, const std::string& path) {
    OpenEntry e;
    e.fd.reset(openat(dirfd, leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!e.fd) {
        if (errno == ENOENT) return e;
        return sys_error("cannot open '" + path + "'");
    }
    if (fstat(e.fd.get(), &e.st) != 0) return sys_error("cannot stat '" + path + "'");
    if (!S_ISREG(e.st.st_mode)) return logic_error(path + ": not a regular file");
    return e;
}

// Unlinks a temporary file unless the edit succeeded.
class TempName {
public:
    TempName(int dirfd, std::string name) : dirfd_(dirfd), name_(std::move(name)) {}
    TempName(const TempName&) = delete;
    TempName& operator=(const TempName&) = delete;
    ~TempName() {
        if (!name_.empty()) unlinkat(dirfd_, name_.c_str(), 0);
    }
    void keep() { name_.clear(); }

private:
    int dirfd_;
    std::string name_;
};

// Writes a new entry under a temporary name and renames it into place,
// never replacing an entry someone else created meanwhile.
Status create_entry(const Session& s, int dirfd, const std::string& leaf, const std::string& path, const FileAcl& m) {
    Fd fd;
    std::string tmp;
    for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) return sys_error("cannot get random bytes");
        char suffix[17];
        std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(r));
        tmp = std::string(".portauth-new.") + suffix;
        fd.reset(openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400));
        if (!fd && errno != EEXIST) break;
    }
    if (!fd) {
        if (errno == EACCES || errno == EPERM)
            return sys_error("cannot create '" + path + "': its directory is not writable by uid " + std::to_string(::geteuid()) +
                             " (changing the policy needs root)");
        return sys_error("cannot create a temporary file next to '" + path + "'");
    }
    TempName cleanup(dirfd, tmp);
    if (fchown(fd.get(), s.options.owner_uid, s.options.owner_gid) != 0) return sys_error("cannot chown '" + path + "'");
    if (fchmod(fd.get(), 0400) != 0) return sys_error("cannot chmod '" + path + "'");
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return sys_error("cannot stat '" + path + "'");
    PA_TRY(write_acl(fd.get(), st, m, path));
    if (fsync(fd.get()) != 0) return sys_error("cannot write '" + path + "'");
    if (renameat2(dirfd, tmp.c_str(), dirfd, leaf.c_str(), RENAME_NOREPLACE) != 0)
        return sys_error("cannot create '" + path + "'");
    cleanup.keep();
    fsync(dirfd);  // the entry is in place; a failed directory sync changes nothing we could undo
    return {};
}

void add_principals(FileAcl& m, const struct stat& st, const std::vector<Principal>& principals) {
    for (const auto& p : principals) {
        if (p.kind == Principal::Kind::user) {
            // The owner class is checked before named users, so the owner
            // can only be let through by the owner's own x bit.
            if (p.id == st.st_uid)
                m.user_obj |= kAclExecute;
            else
                m.users[p.id] |= kAclExecute;
        } else {
            m.groups[p.id] |= kAclExecute;
        }
    }
}

Status remove_principals(FileAcl& m, const struct stat& st, const std::vector<Principal>& principals,
                         const std::string& path, const std::string& what, const TreeOptions& options) {
    for (const auto& p : principals) {
        const bool user = p.kind == Principal::Kind::user;
        if (user ? m.users.erase(p.id) : m.groups.erase(p.id)) continue;
        if (user && p.id == st.st_uid && (m.user_obj & kAclExecute)) {
            if (p.id != 0 && p.id != options.owner_uid)
                return logic_error(format_principal(p) + " owns '" + path + "' and could grant " + what +
                                   " again; chown the entry to root first, or remove it");
            m.user_obj &= static_cast<uint8_t>(~kAclExecute);
            continue;
        }
        if (!user && p.id == st.st_gid && (m.group_obj & kAclExecute)) {
            m.group_obj &= static_cast<uint8_t>(~kAclExecute);
            continue;
        }
        return logic_error(format_principal(p) + " is not named in '" + path + "', so has no " + what + " to give up");
    }
    return {};
}

// Adds the principals to the entry at `rel`, creating it when missing.
Status add_to_entry(const Session& s, const std::string& rel, const std::vector<Principal>& principals) {
    const auto [dirs, leaf] = split_rel(rel);
    const std::string path = s.path_of(rel);
    auto parent = open_parent(s, dirs, true);
    if (!parent) return parent.error();
    auto entry = open_entry(parent->get(), leaf, path);
    if (!entry) return entry.error();
    if (!entry->fd) {
        FileAcl m;
        m.user_obj = kAclRead;
        struct stat owner {};
        owner.st_uid = s.options.owner_uid;
        owner.st_gid = s.options.owner_gid;
        add_principals(m, owner, principals);
        recompute_mask(m);
        return create_entry(s, parent->get(), leaf, path, m);
    }
    auto m = read_acl(entry->fd.get(), entry->st.st_mode, path);
    if (!m) return m.error();
    apply_mask(*m);
    add_principals(*m, entry->st, principals);
    recompute_mask(*m);
    return write_acl(entry->fd.get(), entry->st, *m, path);
}

// Removes the principals from the entry at `rel`; removes the entry when it
// lets nobody through afterwards. An empty list removes the entry.
Status remove_from_entry(const Session& s, const std::string& rel, const std::vector<Principal>& principals,
                         const std::string& what) {
    const auto [dirs, leaf] = split_rel(rel);
    const std::string path = s.path_of(rel);
    auto parent = open_parent(s, dirs, false);
    if (!parent) return parent.error();
    Result<OpenEntry> entry = OpenEntry{};
    if (*parent) entry = open_entry(parent->get(), leaf, path);
    if (!entry) return entry.error();
    if (!entry->fd) {
        if (principals.empty()) return logic_error("'" + path + "' does not exist");
        return logic_error(format_principal(principals.front()) + " has no " + what + ": '" + path + "' does not exist");
    }
    bool remove = principals.empty();
    std::optional<FileAcl> model;
    if (!remove) {
        auto m = read_acl(entry->fd.get(), entry->st.st_mode, path);
        if (!m) return m.error();
        apply_mask(*m);
        PA_TRY(remove_principals(*m, entry->st, principals, path, what, s.options));
        recompute_mask(*m);
        remove = !lets_anyone_through(*m);
        model = std::move(*m);
    }
    if (remove) {
        if (unlinkat(parent->get(), leaf.c_str(), 0) != 0) return sys_error("cannot remove '" + path + "'");
        fsync(parent->get());
        return {};
    }
    return write_acl(entry->fd.get(), entry->st, *model, path);
}

// The entry authbind consults for a grant: for byaddr, the existing spelling
// with the lowest rank (a later one would be shadowed), else the ',' form.
std::string grant_rel(const Policy& policy, const GrantSpec& spec) {
    if (spec.addr) {
        const AddrGrant* best = nullptr;
        for (const auto& g : policy.addr_grants)
            if (g.addr == *spec.addr && g.port == spec.port && (!best || g.rank < best->rank)) best = &g;
        if (best) return best->origin.file;
    }
    return grant_entry_path(spec);
}

std::string grant_what(const GrantSpec& spec) {
    return "grant for port " + std::to_string(spec.port) + (spec.addr ? " on " + spec.addr->str() : "");
}

// A user who forgot sudo gets EACCES or EPERM from the first write: say why.
Status root_hint(Status st) {
    if (st || (st.error().err != EACCES && st.error().err != EPERM) || ::geteuid() == 0) return st;
    Error e = st.error();
    if (e.what.find("needs root") == std::string::npos) e.what += " (changing the policy needs root)";
    return e;
}

}  // namespace

Status grant_allow(const std::string& dir, const GrantSpec& spec, const std::vector<Principal>& principals,
                   const TreeOptions& options) {
    return root_hint([&]() -> Status {
        if (principals.empty()) return logic_error("name at least one user or group to allow port " + format_grant_spec(spec));
        auto s = begin(dir, options);
        if (!s) return s.error();
        return add_to_entry(*s, grant_rel(s->policy, spec), principals);
    }());
}

Status grant_revoke(const std::string& dir, const GrantSpec& spec, const std::vector<Principal>& principals,
                    const TreeOptions& options) {
    return root_hint([&]() -> Status {
        if (principals.empty()) return logic_error("name at least one user or group to revoke port " + format_grant_spec(spec));
        auto s = begin(dir, options);
        if (!s) return s.error();
        return remove_from_entry(*s, grant_rel(s->policy, spec), principals, grant_what(spec));
    }());
}

Status reserve_add(const std::string& dir, const ReserveSpec& spec, const std::vector<Principal>& principals,
                   const TreeOptions& options) {
    return root_hint([&]() -> Status {
        auto s = begin(dir, options);
        if (!s) return s.error();
        const std::string rel = reserve_entry_path(spec);
        std::vector<Reservation> after;
        for (const auto& r : s->policy.reservations)
            if (r.origin.file != rel) after.push_back(r);
        after.push_back(Reservation{spec.proto, spec.port_min, spec.port_max, spec.addr, AccessSpec{}, Origin{rel, 0}});
        PA_TRY(check_reservation_overlaps(dir, after));
        return add_to_entry(*s, rel, principals);
    }());
}

Status reserve_release(const std::string& dir, const ReserveSpec& spec, const std::vector<Principal>& principals,
                       const TreeOptions& options) {
    return root_hint([&]() -> Status {
        auto s = begin(dir, options);
        if (!s) return s.error();
        return remove_from_entry(*s, reserve_entry_path(spec), principals, "share in reservation " + format_reserve_spec(spec));
    }());
}

}  // namespace portauth
