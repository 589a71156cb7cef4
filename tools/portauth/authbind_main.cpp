// authbind: authbind(1)'s command line, portauth's enforcement. Parses
// `[--deep] [--depth LEVELS] [--] PROGRAM [ARGS...]` and hands PROGRAM to the
// portauth adverb (cmd_adverb.cpp): check that the kernel enforces the
// policy for this process, then exec. Nothing after PROGRAM is parsed.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "../cli_help.hpp"
#include "commands.hpp"
#include "common/parse.hpp"
#include "output.hpp"

using namespace portauth::cli;

namespace {

constexpr const char* kUsage = "Usage: authbind [--deep] [--depth LEVELS] [--] PROGRAM [ARGS...]\n";

constexpr const char* kDescription =
    "Run PROGRAM with the port grants of /etc/authbind and /etc/portauth, as authbind(1) does,\n"
    "but enforced by the kernel (portauth's eBPF bind hooks) for PROGRAM and every process it\n"
    "starts: no LD_PRELOAD. Checks that enforcement covers this process, then execs PROGRAM.";

constexpr const char* kExamples =
    "Examples:\n"
    "  authbind nginx -g 'daemon off;'             as authbind would, with kernel enforcement\n"
    "  authbind --deep java -jar server.jar        --deep is accepted; every depth is covered anyway\n"
    "  dropto www-data authbind --deep ./server    as www-data, after dropping privileges\n"
    "\n"
    "Exit status: 100 usage; 111 enforcement is not active for this process, or a system call\n"
    "failed; 126 PROGRAM not executable; 127 PROGRAM not found. See authbind(1).";

// Where PROGRAM starts in `args`: the first word that is not an option or
// --depth's value, or the word after "--".
size_t program_index(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--") return i + 1;
        if (args[i] == "--depth") {
            ++i;
            continue;
        }
        if (args[i].size() < 2 || args[i][0] != '-') return i;
    }
    return args.size();
}

}  // namespace

int main(int argc, char** argv) {
    setup_logging("authbind");
    bool deep = false;
    std::string depth;

    CLI::App app{kDescription, "authbind"};
    app.formatter(std::make_shared<portauth::cli_help::Formatter>(kUsage));
    app.footer(kExamples);
    app.set_version_flag("--version", std::string("authbind ") + PORTAUTH_VERSION);
    app.add_flag("--deep", deep, "Accepted for authbind's sake: the kernel covers every process PROGRAM starts");
    app.add_option("--depth", depth, "Accepted for authbind's sake (a positive number): every depth is covered")
        ->type_name("LEVELS");

    std::vector<std::string> args(argv + 1, argv + argc);
    const size_t split = std::min(program_index(args), args.size());
    AdverbOptions options;
    options.pin_dir = default_pin_dir();
    options.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(split), args.end());
    std::vector<std::string> own(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(split));
    if (!own.empty() && own.back() == "--") own.pop_back();
    std::reverse(own.begin(), own.end());   // CLI11 takes its arguments back to front

    try {
        app.parse(own);
    } catch (const CLI::ParseError& e) {
        return portauth::cli_help::parse_failure(app, e, kExitUsage);
    }
    if (!depth.empty()) {
        const auto levels = portauth::parse_decimal(depth, 1000000);
        if (!levels || *levels == 0) {
            spdlog::error("--depth takes a positive number of levels, not '{}' (try 'authbind --help')", depth);
            return kExitUsage;
        }
    }
    if (options.argv.empty()) {
        spdlog::error("no PROGRAM to run (try 'authbind --help')");
        return kExitUsage;
    }
    return run_adverb(options);
}
