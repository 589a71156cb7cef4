#include "common/term.hpp"

#include <unistd.h>

#include <cstdlib>

namespace portauth {

bool colour_allowed(bool is_terminal, std::string_view no_color, std::string_view term) {
    return is_terminal && no_color.empty() && !term.empty() && term != "dumb";
}

namespace {

const char* start_code(Tone tone) {
    switch (tone) {
        case Tone::good: return "\033[32m";
        case Tone::bad: return "\033[31m";
        case Tone::warning: return "\033[33m";
        case Tone::plain: break;
    }
    return "";
}

std::string padding(std::string_view text, size_t width) {
    return std::string(text.size() < width ? width - text.size() : 0, ' ');
}

}  // namespace

std::string Palette::paint(std::string_view text, Tone tone) const {
    if (!colour_ || tone == Tone::plain || text.empty()) return std::string(text);
    return start_code(tone) + std::string(text) + "\033[0m";
}

std::string Palette::paint_left(std::string_view text, size_t width, Tone tone) const {
    return paint(text, tone) + padding(text, width);
}

std::string Palette::paint_right(std::string_view text, size_t width, Tone tone) const {
    return padding(text, width) + paint(text, tone);
}

bool colour_allowed_on(int fd) {
    const char* no_color = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    return colour_allowed(::isatty(fd) == 1, no_color ? no_color : "", term ? term : "");
}

Palette stdout_palette() { return Palette(colour_allowed_on(STDOUT_FILENO)); }

}  // namespace portauth
