#include "policy/acl_reader.hpp"

#include <acl/libacl.h>
#include <sys/acl.h>

#include <cerrno>
#include <memory>
#include <type_traits>

namespace portauth {

namespace {

struct AclFree {
    void operator()(void* p) const { acl_free(p); }
};
using AclPtr = std::unique_ptr<std::remove_pointer_t<acl_t>, AclFree>;

uint8_t bits_of(acl_permset_t perms) {
    uint8_t bits = 0;
    if (acl_get_perm(perms, ACL_READ) == 1) bits |= kAclRead;
    if (acl_get_perm(perms, ACL_WRITE) == 1) bits |= kAclWrite;
    if (acl_get_perm(perms, ACL_EXECUTE) == 1) bits |= kAclExecute;
    return bits;
}

}  // namespace

FileAcl acl_from_mode(mode_t mode) {
    FileAcl acl;
    acl.user_obj = (mode >> 6) & 7;
    acl.group_obj = (mode >> 3) & 7;
    acl.other = mode & 7;
    return acl;
}

Result<FileAcl> read_acl(int fd, mode_t mode, const std::string& path, AclFd how) {
    acl_t raw;
    if (how == AclFd::path_only) {
        const std::string proc = "/proc/self/fd/" + std::to_string(fd);
        raw = acl_get_file(proc.c_str(), ACL_TYPE_ACCESS);
    } else {
        raw = acl_get_fd(fd);
    }
    if (!raw) {
        if (errno == ENOTSUP || errno == EOPNOTSUPP) return acl_from_mode(mode);
        return sys_error("cannot read the ACL of '" + path + "'");
    }
    const AclPtr owner(raw);

    FileAcl acl;
    acl_entry_t entry;
    int more = acl_get_entry(raw, ACL_FIRST_ENTRY, &entry);
    for (; more == 1; more = acl_get_entry(raw, ACL_NEXT_ENTRY, &entry)) {
        acl_tag_t tag;
        acl_permset_t perms;
        if (acl_get_tag_type(entry, &tag) != 0 || acl_get_permset(entry, &perms) != 0)
            return sys_error("cannot read the ACL of '" + path + "'");
        const uint8_t bits = bits_of(perms);
        switch (tag) {
            case ACL_USER_OBJ: acl.user_obj = bits; break;
            case ACL_GROUP_OBJ: acl.group_obj = bits; break;
            case ACL_OTHER: acl.other = bits; break;
            case ACL_MASK: acl.mask = bits; break;
            case ACL_USER:
            case ACL_GROUP: {
                void* q = acl_get_qualifier(entry);
                if (!q) return sys_error("cannot read the ACL of '" + path + "'");
                const uint32_t id = tag == ACL_USER ? *static_cast<uid_t*>(q) : *static_cast<gid_t*>(q);
                acl_free(q);
                (tag == ACL_USER ? acl.users : acl.groups)[id] = bits;
                break;
            }
            default: break;
        }
    }
    if (more < 0) return sys_error("cannot read the ACL of '" + path + "'");
    return acl;
}

AccessSpec access_spec_of(const FileAcl& acl, uint32_t owner_uid, uint32_t owner_gid) {
    AccessSpec spec;
    spec.owner_uid = owner_uid;
    spec.owner_gid = owner_gid;
    spec.owner_x = (acl.user_obj & kAclExecute) != 0;
    spec.group_x = (acl.group_obj & kAclExecute) != 0;
    spec.other_x = (acl.other & kAclExecute) != 0;
    spec.has_acl = acl.extended();
    // Without an extended ACL there is no mask to limit the group class.
    spec.mask_x = !acl.mask || (*acl.mask & kAclExecute) != 0;
    for (const auto& [id, bits] : acl.users) spec.users.push_back(AclEntry{id, (bits & kAclExecute) != 0});
    for (const auto& [id, bits] : acl.groups) spec.groups.push_back(AclEntry{id, (bits & kAclExecute) != 0});
    return spec;
}

}  // namespace portauth
