#include "policy/text_lines.hpp"

#include "common/text.hpp"
#include "policy/limits.hpp"

namespace portauth {

Error line_error(const std::string& file_name, size_t line, const std::string& what) {
    return logic_error(file_name + ":" + std::to_string(line) + ": " + what);
}

Result<std::vector<TextLine>> significant_lines(std::string_view content, const std::string& file_name, size_t max_lines) {
    std::vector<TextLine> lines;
    size_t count = 0;
    size_t start = 0;
    while (start < content.size()) {
        auto end = content.find('\n', start);
        if (end == std::string_view::npos) end = content.size();
        const auto line = content.substr(start, end - start);
        if (count >= max_lines)
            return logic_error(file_name + ": more than " + std::to_string(max_lines) + " lines (the limit)");
        ++count;
        if (line.size() > kMaxLineLength)
            return line_error(file_name, count,
                              "line longer than " + std::to_string(kMaxLineLength) + " characters (the limit)");
        if (line.find('\0') != std::string_view::npos) return line_error(file_name, count, "contains a NUL byte");
        const auto text = trim_blanks(line);
        if (!text.empty() && text.front() != '#') lines.push_back(TextLine{count, text});
        start = end + 1;
    }
    return lines;
}

}  // namespace portauth
