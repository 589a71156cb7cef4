// Reading small files whole, with a bound: what a /proc file or a policy file
// holds is read into memory only up to a limit the caller names.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.hpp"

namespace portauth {

// Reads from `fd` until end of file or until `limit` bytes are read, retrying
// on EINTR. A caller that must refuse larger files asks for limit + 1 bytes
// and compares. The error ("cannot read 'PATH'") carries errno.
Result<std::string> read_up_to(int fd, size_t limit, const std::string& path);

// Opens `path` (O_RDONLY | O_NOCTTY | O_CLOEXEC) and reads at most `limit`
// bytes of it; errors "cannot open 'PATH'" and "cannot read 'PATH'" carry errno.
Result<std::string> read_small_file(const std::string& path, size_t limit);

}  // namespace portauth
