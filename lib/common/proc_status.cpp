#include "common/proc_status.hpp"

#include <string_view>

#include "common/parse.hpp"
#include "common/small_file.hpp"
#include "common/text.hpp"

namespace portauth {

namespace {
// /proc/PID/status is a few KiB; anything past this is not the kernel's file.
constexpr size_t kMaxStatusBytes = 64 * 1024;
}  // namespace

std::optional<uint64_t> effective_capabilities(const std::string& status_path) {
    auto text = read_small_file(status_path, kMaxStatusBytes);
    if (!text) return std::nullopt;
    std::string_view rest(*text);
    while (!rest.empty()) {
        const size_t nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        constexpr std::string_view kKey = "CapEff:";
        if (line.substr(0, kKey.size()) != kKey) continue;
        return parse_hex(trim_blanks(line.substr(kKey.size())), UINT64_MAX);
    }
    return std::nullopt;
}

bool has_effective_capability(unsigned cap, const std::string& status_path) {
    if (cap > 63) return false;
    const auto caps = effective_capabilities(status_path);
    return caps && (*caps & (uint64_t{1} << cap)) != 0;
}

}  // namespace portauth
