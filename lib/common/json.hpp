// A minimal JSON writer for --json output: objects, arrays, strings, numbers,
// booleans. Output is compact, keys appear in the order written (stable).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <cstdio>

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
    void string_literal(std::string_view s) {
        out_ += '"';
        for (unsigned char c : s) {
            switch (c) {
                case '"': out_ += "\\\""; break;
                case '\\': out_ += "\\\\"; break;
                case '\n': out_ += "\\n"; break;
                case '\t': out_ += "\\t"; break;
                default:
                    if (c < 0x20) {
                        char buf[8];
                        std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        out_ += buf;
                    } else {
                        out_ += static_cast<char>(c);
                    }
            }
        }
        out_ += '"';
    }
    std::string out_;
    bool first_ = true;
    bool after_key_ = false;
};

}  // namespace portauth
