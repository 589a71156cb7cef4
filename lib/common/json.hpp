// A minimal JSON writer for --json output: objects, arrays, strings, numbers,
// booleans. Output is compact, keys appear in the order written (stable).
// Always valid UTF-8 JSON: a byte of a string that is not part of valid UTF-8
// (overlong forms, surrogates, past U+10FFFF, cut sequences) becomes the text
// "\xNN" (in JSON source "\\xNN"), the escape of common/escape.hpp; control
// characters become \uNNNN. Strings from other processes should still pass
// escape_untrusted first, so that a backslash is unambiguous.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <cstdio>
#include <vector>

namespace portauth {

class JsonWriter {
public:
    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }
    JsonWriter& key(std::string_view k) {
        comma();
        string_literal(k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }
    JsonWriter& value(std::string_view v) { return comma(), string_literal(v), *this; }
    JsonWriter& value(const char* v) { return value(std::string_view(v)); }
    JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
    JsonWriter& value(bool v) { return comma(), out_ += v ? "true" : "false", *this; }
    JsonWriter& value(uint64_t v) { return comma(), out_ += std::to_string(v), *this; }
    JsonWriter& value(int64_t v) { return comma(), out_ += std::to_string(v), *this; }
    JsonWriter& value(uint32_t v) { return value(static_cast<uint64_t>(v)); }
    JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
    JsonWriter& value(double v) {
        comma();
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", v);
        out_ += buf;
        return *this;
    }
    JsonWriter& value(const std::vector<std::string>& v) {
        begin_array();
        for (const auto& x : v) value(x);
        return end_array();
    }
    JsonWriter& null() { return comma(), out_ += "null", *this; }
    template <class T>
    JsonWriter& field(std::string_view k, const T& v) {
        key(k);
        return value(v);
    }
    const std::string& str() const { return out_; }

private:
    JsonWriter& open(char c) {
        comma();
        out_ += c;
        first_ = true;
        return *this;
    }
    JsonWriter& close(char c) {
        out_ += c;
        first_ = false;
        return *this;
    }
    void comma() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!first_ && !out_.empty()) out_ += ',';
        first_ = false;
    }
    // Length of the valid UTF-8 sequence at s[i], 0 when there is none.
    static size_t utf8_sequence(std::string_view s, size_t i) {
        const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
        const unsigned char c = b(0);
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) return 1;
        if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1fu, min = 0x80;
        else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0fu, min = 0x800;
        else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07u, min = 0x10000;
        else return 0;
        if (i + n > s.size()) return 0;
        for (size_t k = 1; k < n; ++k) {
            if ((b(k) & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (b(k) & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        return n;
    }
    void string_literal(std::string_view s) {
        out_ += '"';
        for (size_t i = 0; i < s.size();) {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c >= 0x80) {
                const size_t n = utf8_sequence(s, i);
                if (n == 0) {
                    char buf[8];
                    (void)std::snprintf(buf, sizeof buf, "\\\\x%02x", c);
                    out_ += buf;
                    ++i;
                } else {
                    out_.append(s.substr(i, n));
                    i += n;
                }
                continue;
            }
            switch (c) {
                case '"': out_ += "\\\""; break;
                case '\\': out_ += "\\\\"; break;
                case '\n': out_ += "\\n"; break;
                case '\t': out_ += "\\t"; break;
                default:
                    if (c < 0x20) {
                        char buf[8];
                        (void)std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        out_ += buf;
                    } else {
                        out_ += static_cast<char>(c);
                    }
            }
            ++i;
        }
        out_ += '"';
    }
    std::string out_;
    bool first_ = true;
    bool after_key_ = false;
};

}  // namespace portauth
