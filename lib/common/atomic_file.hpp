// Replace a file whole, as if an attacker owned its directory: a random
// temporary made there with O_TMPFILE (linked in with linkat) or, where the
// file system lacks it, O_CREAT|O_EXCL|O_NOFOLLOW under a random name; the
// mode set explicitly (the umask plays no part); fsync; rename over PATH;
// fsync of the directory. A symlink planted at PATH or at any temporary name
// is replaced, never followed; a crash leaves the old file or the new one.
// Used for portwatch's metrics file, the run state file and the last good
// policy.
#pragma once

#include <string>

#include "common/result.hpp"

namespace portauth {

Status write_file_atomically(const std::string& path, const std::string& text, unsigned mode = 0644);

}  // namespace portauth
