// A file's POSIX access ACL as plain data: the one place that reads ACLs.
// The loader (tree.cpp) turns it into the AccessSpec a policy entry grants;
// the edits (edit.cpp) change it and write it back.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth {

// Permission bits of one ACL entry, as in a mode's rwx triplet.
inline constexpr uint8_t kAclRead = 4, kAclWrite = 2, kAclExecute = 1;

// An access ACL. A file without an extended ACL has no mask and no named
// entries: its three classes are the mode's bits. With an extended ACL, the
// mode's group bits are the mask and group_obj is the owning group's entry.
struct FileAcl {
    uint8_t user_obj = 0, group_obj = 0, other = 0;
    std::optional<uint8_t> mask;
    std::map<uint32_t, uint8_t> users, groups;   // named entries by uid / gid

    // Named entries or a mask: the group class is then group_obj limited by
    // the mask, not the mode's group bits.
    bool extended() const { return mask.has_value() || !users.empty() || !groups.empty(); }
};

// The ACL a file system without ACL support (ENOTSUP) stands for: the mode.
FileAcl acl_from_mode(mode_t mode);

// How the fd was opened: an O_PATH fd (opened without read access, e.g. an
// unprivileged test reading a --x entry) has its ACL read through
// /proc/self/fd.
enum class AclFd { readable, path_only };

// Reads the access ACL of the open file `fd` whose mode is `mode` (its
// fstat). Without ACL support in the file system, acl_from_mode(mode). The
// error, "cannot read the ACL of 'PATH'", carries errno.
Result<FileAcl> read_acl(int fd, mode_t mode, const std::string& path, AclFd how = AclFd::readable);

// Who a policy entry with this ACL and owner lets through (model.hpp,
// AccessSpec): the x bits as written, named entries sorted by id. Pure.
AccessSpec access_spec_of(const FileAcl& acl, uint32_t owner_uid, uint32_t owner_gid);

}  // namespace portauth
