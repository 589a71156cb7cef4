// Errors as values: every failure carries the errno (0 when none applies) and
// a sentence naming the thing that failed, e.g.
//   cannot open '/etc/portauth/byuid/1001': Permission denied
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace portauth {

struct Error {
    int err = 0;          // errno value, or 0 for a logical (non-syscall) error
    std::string what;     // "cannot open '/x'" - without the errno text

    std::string message() const {
        if (err == 0) return what;
        return what + ": " + std::strerror(err);
    }
};

namespace detail {
// Holds errno as it was before the message was built: building a string may
// allocate, and an allocator may change errno.
struct ErrnoSnapshot {
    int saved;
    Error operator()(std::string what) const { return Error{saved, std::move(what)}; }
    Error operator()(std::string what, int e) const { return Error{e, std::move(what)}; }
};
}  // namespace detail

inline Error logic_error(std::string what) { return Error{0, std::move(what)}; }

// Builds an Error from the current errno: sys_error("cannot open '" + p + "'"),
// or from a saved one: sys_error("...", e). errno is read before the message is
// built: in a call, the postfix expression is sequenced before the arguments.
#define sys_error ::portauth::detail::ErrnoSnapshot{errno}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }

private:
    Error error_{};
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace portauth

// Propagates an error from an expression yielding Result<...>.
#define PA_TRY(expr)                                    \
    do {                                                \
        auto pa_try_result_ = (expr);                   \
        if (!pa_try_result_) return pa_try_result_.error(); \
    } while (0)
