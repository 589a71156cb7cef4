// What portauth, portreserve and portwatch print when CLI11 stops parsing:
// --help and --version as CLI11 writes them (exit 0), and a parse error as
//   portauth: OWNER is required
//   Run 'portreserve add --help' for usage.
// on stderr, with the tool's own usage status: CLI11's exit codes (100-127)
// would collide with exec's 126/127, and its own text names neither the tool
// nor the subcommand whose help explains the mistake.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <utility>

namespace portauth::cli_help {

// The command as far as it was parsed: "portreserve add" (the deepest
// subcommand named on the line), or the tool alone.
inline std::string parsed_command(const CLI::App& app) {
    std::string command = app.get_name();
    const CLI::App* at = &app;
    for (auto subs = at->get_subcommands(); !subs.empty(); subs = at->get_subcommands()) {
        at = subs.front();
        command += " ";
        command += at->get_name();
    }
    return command;
}

// Returns the exit status: 0 for --help and --version, else `usage_status`.
inline int parse_failure(const CLI::App& app, const CLI::ParseError& e, int usage_status) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    (void)std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", app.get_name().c_str(), e.what(),
                 parsed_command(app).c_str());
    return usage_status;
}

// Usage first, as CLI11 writes it, but under the tool's own name (not argv[0],
// which may be a build path), and for the tool itself `usage` instead when given.
class Formatter : public CLI::Formatter {
public:
    explicit Formatter(std::string usage = "") : usage_(std::move(usage)) {}
    std::string make_usage(const CLI::App* app, std::string name) const override {
        if (app->get_parent() == nullptr && !usage_.empty()) return usage_;
        return CLI::Formatter::make_usage(app, std::move(name));
    }

private:
    std::string usage_;
};

}  // namespace portauth::cli_help
