// dropto: parse the command line into Options and hand it to run(). Nothing else.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "dropto/identity.hpp"
#include "dropto/run.hpp"

namespace {

using namespace portauth::dropto;

constexpr const char* kUsage = "Usage: dropto [OPTIONS] USER[:GROUP] PROGRAM [ARGS...]\n";

constexpr const char* kDescription =
    "Become USER (and GROUP) for good - supplementary groups, gid, then uid, all verified,\n"
    "no capability left - and exec PROGRAM, looked up in PATH. Nothing after PROGRAM is\n"
    "parsed, so it chains with other adverbs. Options go before PROGRAM; '--' ends them.";

constexpr const char* kExamples =
    "Examples:\n"
    "  dropto www-data nginx -g 'daemon off;'      as www-data, with its groups\n"
    "  dropto _ng.test portauth --deep nginx       chained with another adverb\n"
    "  dropto 51000:51000 ./job                    a uid without a passwd entry\n"
    "  dropto --setsid --no-new-privs app ./srv    no terminal, no later privilege\n"
    "  dropto --groups ssl-cert,adm app ./srv      exactly these supplementary groups\n"
    "\n"
    "Exit status: 100 usage, unknown user/group or refusal; 111 a system call failed;\n"
    "126 PROGRAM not executable; 127 PROGRAM not found. See dropto(1).";

// Usage first, then the description; options show only their value's name.
class Formatter : public CLI::Formatter {
public:
    std::string make_description(const CLI::App*) const override { return ""; }
    std::string make_usage(const CLI::App* app, std::string) const override {
        return std::string(kUsage) + "\n" + app->get_description() + "\n";
    }
    std::string make_option_opts(const CLI::Option* option) const override {
        const std::string type = option->get_type_name();
        return type.empty() ? "" : " " + type;
    }
};

void say(const std::string& line) { std::fprintf(stderr, "dropto: %s\n", line.c_str()); }

// The index in `args` where PROGRAM starts: the first positional after USER, or the
// first argument after "--" once USER is known. Options that take a value (--groups)
// consume the next argument. CLI11 then parses only what comes before PROGRAM.
// (CLI11's prefix_command() would stop at PROGRAM too, but it silently accepts
// unknown options on the way, and a typo must be a usage error, exit 100.)
size_t program_index(const CLI::App& app, const std::vector<std::string>& args) {
    bool have_user = false;
    bool options_ended = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (!options_ended && arg == "--") {
            options_ended = true;
            continue;
        }
        if (!options_ended && arg.size() > 1 && arg[0] == '-') {
            if (arg.rfind("--", 0) == 0 && arg.find('=') == std::string::npos) {
                const CLI::Option* option = app.get_option_no_throw(arg);
                if (option && option->get_items_expected_min() > 0) ++i;  // its value
            }
            continue;
        }
        if (have_user) return i;
        have_user = true;
    }
    return args.size();
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    std::string groups;
    bool no_groups = false;

    CLI::App app{kDescription, "dropto"};
    app.formatter(std::make_shared<Formatter>());
    app.footer(kExamples);
    app.set_version_flag("--version", std::string("dropto ") + PORTAUTH_VERSION);
    app.add_option("USER[:GROUP]", options.target, "A user name or uid, and a group name or gid")
        ->required()
        ->type_name("");
    auto* groups_option =
        app.add_option("--groups", groups, "Exactly these supplementary groups (names or gids)")
            ->type_name("LIST");
    app.add_flag("--no-groups", no_groups, "No supplementary groups")->excludes(groups_option);
    app.add_flag("--keep-env", options.keep_env, "Leave HOME, USER and LOGNAME as they are");
    app.add_flag("--no-new-privs", options.no_new_privs,
                 "Set no_new_privs: setuid bits, file caps grant nothing");
    app.add_flag("--setsid", options.setsid,
                 "New session, no controlling terminal (against TIOCSTI)");
    app.add_flag("--clear-bounding-set", options.clear_bounding_set,
                 "Empty the capability bounding set");

    std::vector<std::string> args(argv + 1, argv + argc);
    const size_t split = program_index(app, args);
    options.command.assign(args.begin() + static_cast<std::ptrdiff_t>(split), args.end());
    std::vector<std::string> own(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(split));
    std::reverse(own.begin(), own.end());  // CLI11 takes its arguments back to front

    try {
        app.parse(own);
    } catch (const CLI::CallForHelp&) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    } catch (const CLI::CallForVersion& version) {
        std::printf("%s\n", version.what());
        return 0;
    } catch (const CLI::ParseError& error) {
        // CLI11's own exit codes would collide with 126/127.
        say(std::string(error.what()) + " (try 'dropto --help')");
        return exit_usage;
    }
    if (options.command.empty()) {
        say("missing PROGRAM (try 'dropto --help')");
        return exit_usage;
    }
    if (no_groups) options.groups_source = GroupsSource::none;
    if (app.count("--groups") > 0) {
        auto list = parse_group_list(groups);
        if (!list) {
            say(list.error().message());
            return exit_usage;
        }
        options.groups_source = GroupsSource::list;
        options.groups = std::move(list).value();
    }

    SystemSyscalls sys;
    portauth::SystemUserDatabase db;
    const Failure failure = run(options, sys, db, say);
    say(failure.error.message());
    return failure.exit_code;
}
