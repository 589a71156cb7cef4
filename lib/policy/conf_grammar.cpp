#include "policy/conf_grammar.hpp"

#include <cstdint>

#include "common/text.hpp"
#include "policy/text_lines.hpp"

namespace portauth {

Result<PolicySettings> parse_conf(std::string_view content, const std::string& file_name) {
    auto lines = significant_lines(content, file_name, SIZE_MAX);
    if (!lines) return lines.error();
    PolicySettings settings;
    size_t root_exempt_line = 0;
    for (const auto& [number, text] : *lines) {
        const auto eq = text.find('=');
        if (eq == std::string_view::npos) return line_error(file_name, number, "expected 'key = value'");
        const std::string key(trim_blanks(text.substr(0, eq)));
        const std::string value(trim_blanks(text.substr(eq + 1)));
        if (key != "root-exempt") return line_error(file_name, number, "unknown setting " + quoted(key) + " (known: root-exempt)");
        if (root_exempt_line)
            return line_error(file_name, number, "root-exempt is already set on line " + std::to_string(root_exempt_line));
        if (value == "yes")
            settings.root_exempt = true;
        else if (value == "no")
            settings.root_exempt = false;
        else
            return line_error(file_name, number, "root-exempt takes yes or no, not " + quoted(value));
        root_exempt_line = number;
    }
    return settings;
}

}  // namespace portauth
