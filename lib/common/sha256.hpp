// SHA-256 (FIPS 180-4), for the policy's identity: the hash `apply` records
// and `status` compares, the same on every host for the same tree.
#pragma once

#include <string>
#include <string_view>

namespace portauth {

// The lowercase hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace portauth
