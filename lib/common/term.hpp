// Colour for people, never for programs: human output may colour a verdict or
// a state when standard output is a terminal, NO_COLOR is unset or empty
// (https://no-color.org) and TERM names a terminal other than "dumb". --json
// output never goes through a Palette.
//
// Colour codes take no room on the screen, so tables pad a cell by the length
// of its text and then paint it (paint_left/paint_right): columns line up the
// same with colour and without.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portauth {

enum class Tone {
    plain,
    good,      // green: allowed, active
    bad,       // red: refused, not active, denied binds
    warning,   // yellow: works, but something needs a look
};

// The decision, without I/O: `no_color` and `term` are the variables' values,
// "" when unset.
bool colour_allowed(bool is_terminal, std::string_view no_color, std::string_view term);

class Palette {
public:
    explicit Palette(bool colour) : colour_(colour) {}

    bool colour() const { return colour_; }
    std::string paint(std::string_view text, Tone tone) const;
    // `text` left-aligned (padded on the right) or right-aligned in `width`
    // columns, then painted; the padding stays outside the colour codes.
    std::string paint_left(std::string_view text, size_t width, Tone tone) const;
    std::string paint_right(std::string_view text, size_t width, Tone tone) const;

private:
    bool colour_;
};

// colour_allowed() for this process's fd: isatty(fd), $NO_COLOR and $TERM.
bool colour_allowed_on(int fd);

// For standard output.
Palette stdout_palette();

}  // namespace portauth
