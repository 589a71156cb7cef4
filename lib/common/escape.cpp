#include "common/escape.hpp"

#include <cstdint>

namespace portauth {

namespace {

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t utf8_length(std::string_view s, size_t i, uint32_t& cp) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    if (c < 0x80) {
        cp = c;
        return 1;
    }
    size_t n;
    uint32_t min;
    if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((b(k) & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (b(k) & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

void hex_escape(std::string& out, unsigned char c) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
}

}  // namespace

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        const size_t n = utf8_length(s, i, cp);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string escape_untrusted(std::string_view raw, size_t max_bytes) {
    std::string out;
    out.reserve(raw.size() < max_bytes ? raw.size() : max_bytes);
    for (size_t i = 0; i < raw.size();) {
        uint32_t cp = 0;
        size_t n = utf8_length(raw, i, cp);
        std::string piece;
        if (n == 0) {
            hex_escape(piece, static_cast<unsigned char>(raw[i]));
            n = 1;
        } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            for (size_t k = 0; k < n; ++k) hex_escape(piece, static_cast<unsigned char>(raw[i + k]));
        } else if (cp == '\\') {
            piece = "\\\\";
        } else {
            piece.assign(raw.substr(i, n));
        }
        if (out.size() + piece.size() > max_bytes) return out + "...";
        out += piece;
        i += n;
    }
    return out;
}

std::string csv_quote(std::string cell) {
    if (!cell.empty() && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@')) cell.insert(0, "'");
    if (cell.find_first_of(",\" ") == std::string::npos) return cell;
    std::string quoted = "\"";
    for (char c : cell) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + "\"";
}

std::string csv_cell(std::string_view raw, size_t max_bytes) { return csv_quote(escape_untrusted(raw, max_bytes)); }

}  // namespace portauth
