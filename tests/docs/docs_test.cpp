// Documentation consistency (STYLE.md rule 11): the man pages, the shell
// completions and --help describe the same tools.
//
//   - every man page in man/ renders with groff without a warning;
//   - every completion file passes bash -n / zsh -n / fish -n;
//   - every long option a tool's --help prints (portauth and each subcommand,
//     portreserve and each subcommand, dropto, portwatch and each subcommand)
//     is in the tool's man page and in its bash, zsh and fish completions, and
//     the bash and fish completions actually offer it for that subcommand;
//   - every tool answers --version with its name and the project's version, the
//     one its man page's title line names; every --help has usage and examples;
//   - every subcommand is in the man page's SYNOPSIS and in the completions;
//   - every exit status in tools/portauth/commands.hpp is in portauth(8)'s
//     EXIT STATUS, and the ones a tool's --help names are in its man page;
//   - the environment variables each tool's code reads are in its man page's
//     ENVIRONMENT, and the pins the engine makes are in portauth(8);
//   - colour, as ENVIRONMENT promises: the tools run with standard output on a
//     pipe and on a pseudo-terminal, with and without NO_COLOR and TERM=dumb.
//   (The formatters behind the colour and the alignment: output_test.cpp;
//   docs/json.md against the code and the --json output: json_keys.py.)
//
// DOCS_TEST_SOURCE_DIR overrides the source tree that is checked (to see the
// tests fail on a deliberately broken copy).
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

fs::path source_dir() {
    const char* override_dir = std::getenv("DOCS_TEST_SOURCE_DIR");
    return override_dir && *override_dir ? fs::path(override_dir) : fs::path(SOURCE_DIR);
}

struct Ran {
    int status = -1;   // exit status, 128 + signal, or -1 when it could not run
    std::string out, err;
};

// The environment for a child: LC_ALL=C, then `changes` ("NAME=VALUE" sets,
// a bare "NAME" unsets), then the rest of ours.
std::vector<std::string> child_environment(const std::vector<std::string>& changes) {
    std::vector<std::string> env;
    std::set<std::string> names = {"LC_ALL"};
    for (const auto& c : changes) {
        names.insert(c.substr(0, c.find('=')));
        if (c.find('=') != std::string::npos) env.push_back(c);
    }
    env.push_back("LC_ALL=C");
    for (char** e = environ; *e; ++e) {
        const std::string entry = *e;
        if (!names.count(entry.substr(0, entry.find('=')))) env.push_back(entry);
    }
    return env;
}

// Runs argv (looked up in PATH) with stdin from /dev/null, LC_ALL=C and the
// environment changes given; returns its exit status, stdout and stderr.
Ran run(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {}) {
    Ran r;
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return r;
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(out[0]);
        ::close(out[1]);
        return r;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);

    std::vector<std::string> env = child_environment(extra_env);
    std::vector<char*> envp, args;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (auto& a : argv_copy) args.push_back(a.data());
    args.push_back(nullptr);

    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(out[0]);
        ::close(err[0]);
        r.err = "cannot run '" + argv[0] + "': " + std::strerror(rc);
        return r;
    }
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open_fds = 2;
    while (open_fds > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return r;
}

bool have_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && ::access((fs::path(dir) / name).c_str(), X_OK) == 0) return true;
    return false;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

// roff source -> searchable text: "\-" is "-", font changes and "\&" vanish.
std::string unroff(const std::string& roff) {
    std::string s = std::regex_replace(roff, std::regex(R"(\\f(\[[^\]]*\]|\(..|.))"), "");
    s = std::regex_replace(s, std::regex(R"(\\-)"), "-");
    s = std::regex_replace(s, std::regex(R"(\\&)"), "");
    s = std::regex_replace(s, std::regex(R"(\\\(aq)"), "'");
    s = std::regex_replace(s, std::regex(R"(\\e)"), "\\");
    return s;
}

// The lines of section `name` (".SH NAME" or ".SH \"NAME\"") up to the next .SH.
std::string man_section(const std::string& roff, const std::string& name) {
    std::string out;
    bool in = false;
    for (const auto& line : lines_of(roff)) {
        if (line.rfind(".SH", 0) == 0) {
            std::string title = line.substr(3);
            title.erase(0, title.find_first_not_of(" \t\""));
            title.erase(title.find_last_not_of(" \t\"") + 1);
            in = title == name;
            continue;
        }
        if (in) out += line + "\n";
    }
    return out;
}

std::string regex_escape(const std::string& s) {
    return std::regex_replace(s, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
}

// `word` in `text`, not as part of a longer option or name.
bool contains_word(const std::string& text, const std::string& word) {
    const std::regex re("(^|[^A-Za-z0-9_-])" + regex_escape(word) + "($|[^A-Za-z0-9_-])");
    return std::regex_search(text, re);
}

// fish spells --pin-dir "-l pin-dir".
bool fish_has_option(const std::string& text, const std::string& option) {
    const std::string name = option.substr(2);
    const std::regex re("(-l +|--long +|--long-option[= ]+|--)" + regex_escape(name) + "($|[^A-Za-z0-9_-])");
    return std::regex_search(text, re);
}

struct Help {
    std::set<std::string> options;        // long options, from the Options section and the usage lines
    std::vector<std::string> subcommands;
    std::set<int> exit_statuses;          // the numbers after "Exit status:"
};

// Parses CLI11's --help: "Options:" lines name options in their first column,
// "Subcommands:" lines start with a subcommand, usage lines may show
// "[--deep] [--pin-dir DIR]".
Help parse_help(const std::string& text) {
    Help h;
    const std::regex header(R"(^([A-Z][A-Za-z ]*):\s*$)");
    const std::regex long_option(R"(--[a-z][a-z0-9-]*)");
    const std::regex usage_option(R"(\[(--[a-z][a-z0-9-]*))");
    std::string section;
    bool exit_text = false;
    for (const auto& line : lines_of(text)) {
        std::smatch m;
        if (std::regex_match(line, m, header)) {
            section = m[1];
            continue;
        }
        if (line.find_first_not_of(" \t") == std::string::npos) {
            section.clear();
            exit_text = false;
            continue;
        }
        if (line.find("Usage:") != std::string::npos || line.find(" or: ") != std::string::npos) {
            for (std::sregex_iterator it(line.begin(), line.end(), usage_option), end; it != end; ++it)
                h.options.insert((*it)[1]);
        }
        if (const auto at = line.find("Exit status:"); at != std::string::npos || exit_text) {
            exit_text = true;
            const std::string rest = at != std::string::npos ? line.substr(at) : line;
            // Numbers, but not a man section as in "dropto(1)".
            const std::regex number(R"((?:^|[^(\w])(\d{1,3})(?![\w)]))");
            for (std::sregex_iterator it(rest.begin(), rest.end(), number), end; it != end; ++it)
                h.exit_statuses.insert(std::stoi((*it)[1]));
        }
        const size_t first = line.find_first_not_of(" \t");
        if (section == "Options" && line[first] == '-') {
            const size_t gap = line.find("  ", first);
            const std::string names = line.substr(first, gap == std::string::npos ? std::string::npos : gap - first);
            for (std::sregex_iterator it(names.begin(), names.end(), long_option), end; it != end; ++it)
                h.options.insert(it->str());
        } else if (section == "Subcommands" && std::isalpha(static_cast<unsigned char>(line[first]))) {
            h.subcommands.push_back(line.substr(first, line.find_first_of(" \t", first) - first));
        }
    }
    return h;
}

struct Tool {
    std::string id;     // test name: portauth_apply
    std::string bin;    // the built binary
    std::string name;   // portauth
    std::vector<std::string> sub;   // {"apply"}, or none
    std::string man;    // man/portauth.8

    std::string command() const {
        std::string c = name;
        for (const auto& s : sub) c += " " + s;
        return c;
    }
    fs::path bash() const { return source_dir() / "completions/bash" / name; }
    fs::path zsh() const { return source_dir() / "completions/zsh" / ("_" + name); }
    fs::path fish() const { return source_dir() / "completions/fish" / (name + ".fish"); }
};

void PrintTo(const Tool& t, std::ostream* os) { *os << t.command(); }

std::vector<Tool> all_tools() {
    std::vector<Tool> tools = {{"portauth", PORTAUTH_BIN, "portauth", {}, "man/portauth.8"}};
    for (const char* s : {"apply", "status", "unload", "check", "allow", "revoke", "list"})
        tools.push_back({std::string("portauth_") + s, PORTAUTH_BIN, "portauth", {s}, "man/portauth.8"});
    tools.push_back({"portreserve", PORTRESERVE_BIN, "portreserve", {}, "man/portreserve.8"});
    for (const char* s : {"add", "release", "list"})
        tools.push_back({std::string("portreserve_") + s, PORTRESERVE_BIN, "portreserve", {s}, "man/portreserve.8"});
#ifdef DROPTO_BIN
    tools.push_back({"dropto", DROPTO_BIN, "dropto", {}, "man/dropto.1"});
#endif
#ifdef AUTHBIND_BIN
    tools.push_back({"authbind", AUTHBIND_BIN, "authbind", {}, "man/authbind.1"});
#endif
#ifdef PORTWATCH_BIN
    tools.push_back({"portwatch", PORTWATCH_BIN, "portwatch", {}, "man/portwatch.8"});
    for (const char* s : {"scan", "run", "report", "check"})
        tools.push_back({std::string("portwatch_") + s, PORTWATCH_BIN, "portwatch", {s}, "man/portwatch.8"});
#endif
    return tools;
}

Help help_of(const Tool& t) {
    std::vector<std::string> argv = {t.bin};
    argv.insert(argv.end(), t.sub.begin(), t.sub.end());
    argv.push_back("--help");
    const Ran r = run(argv);
    EXPECT_EQ(r.status, 0) << t.command() << " --help: " << r.err;
    return parse_help(r.out);
}

// What the bash completion offers for `words` (the last one is being
// completed), run in a plain non-interactive bash without bash-completion.
std::set<std::string> bash_offers(const fs::path& file, const std::vector<std::string>& words,
                                  const std::vector<std::string>& env = {}, std::string* err = nullptr) {
    const std::string script = R"(
source "$1" || exit 3
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
spec=$(complete -p "${COMP_WORDS[0]}") || exit 4
fn=${spec#*-F }
fn=${fn%% *}
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
)";
    std::vector<std::string> argv = {"bash", "--norc", "--noprofile", "-c", script, "bash", file.string()};
    argv.insert(argv.end(), words.begin(), words.end());
    const Ran r = run(argv, env);
    EXPECT_EQ(r.status, 0) << "bash completion " << file << " failed: " << r.err;
    if (err) *err = r.err;
    const auto lines = lines_of(r.out);
    return {lines.begin(), lines.end()};
}

// What the fish completion offers for the command line `line`.
std::set<std::string> fish_offers(const fs::path& file, const std::string& line,
                                  const std::vector<std::string>& env = {}, std::string* err = nullptr) {
    const Ran r = run({"fish", "--no-config", "-c", "source $argv[1]; and complete -C $argv[2]", file.string(), line}, env);
    EXPECT_EQ(r.status, 0) << "fish completion " << file << " failed: " << r.err;
    if (err) *err = r.err;
    std::set<std::string> offers;
    for (const auto& l : lines_of(r.out)) offers.insert(l.substr(0, l.find('\t')));
    return offers;
}

std::string join(const std::set<std::string>& items) {
    std::string s;
    for (const auto& i : items) s += (s.empty() ? "" : " ") + i;
    return s;
}

// ---------------------------------------------------------------------------

TEST(DocsManPages, RenderWithoutWarnings) {
    if (!have_program("groff")) GTEST_SKIP() << "groff is not installed (apt-get install groff)";
    std::vector<fs::path> pages;
    for (const auto& e : fs::directory_iterator(source_dir() / "man")) {
        const std::string ext = e.path().extension().string();
        if (e.is_regular_file() && ext.size() == 2 && ext[1] >= '1' && ext[1] <= '9') pages.push_back(e.path());
    }
    std::sort(pages.begin(), pages.end());
    ASSERT_FALSE(pages.empty()) << "no man pages in " << source_dir() / "man";
    for (const auto& page : pages) {
        // Typeset, and as man(1) formats it for an 80-column terminal (where
        // lines that cannot be broken or adjusted warn).
        for (const std::vector<std::string>& device : {std::vector<std::string>{}, std::vector<std::string>{"-Tutf8", "-rLL=80n"}}) {
            std::vector<std::string> argv = {"groff", "-t", "-man", "-ww", "-z"};
            argv.insert(argv.end(), device.begin(), device.end());
            argv.push_back(page.string());
            const Ran r = run(argv);
            const std::string how = device.empty() ? "groff -man" : "groff -man -Tutf8";
            EXPECT_EQ(r.status, 0) << how << " " << page;
            EXPECT_EQ(r.err, "") << page << " has warnings from " << how;
        }
        EXPECT_FALSE(man_section(read_file(page), "NAME").empty()) << page << " has no NAME section";
    }
}

// Every command's page has worked examples and its exit statuses; the file
// format's page (section 5) has examples.
TEST(DocsManPages, HaveExamplesAndExitStatus) {
    int pages = 0;
    for (const auto& e : fs::directory_iterator(source_dir() / "man")) {
        const std::string ext = e.path().extension().string();
        if (!e.is_regular_file() || ext.size() != 2) continue;
        ++pages;
        const std::string roff = read_file(e.path());
        EXPECT_FALSE(man_section(roff, "EXAMPLES").empty()) << e.path() << " has no EXAMPLES section";
        if (ext == ".1" || ext == ".8") {
            EXPECT_FALSE(man_section(roff, "EXIT STATUS").empty()) << e.path() << " has no EXIT STATUS section";
        }
    }
    EXPECT_GE(pages, 5) << "expected dropto.1, portauth.5, portauth.8, portreserve.8, portwatch.8";
}

TEST(DocsManPages, OwnCrossReferencesExist) {
    std::set<std::string> ours = {"portauth", "portreserve", "dropto", "authbind"};
    std::set<std::string> present;
    for (const auto& e : fs::directory_iterator(source_dir() / "man")) {
        ours.insert(e.path().stem().string());
        present.insert(e.path().filename().string());
    }
    const std::regex ref(R"(\.BR\s+([a-z][a-z0-9_.-]*)\s+\((\d)\))");
    for (const auto& e : fs::directory_iterator(source_dir() / "man")) {
        const std::string text = unroff(read_file(e.path()));
        for (std::sregex_iterator it(text.begin(), text.end(), ref), end; it != end; ++it) {
            const std::string name = (*it)[1], section = (*it)[2];
            if (!ours.count(name)) continue;
            EXPECT_TRUE(present.count(name + "." + section))
                << e.path().filename() << " refers to " << name << "(" << section << "), but there is no man/"
                << name << "." << section;
        }
    }
}

TEST(DocsCompletions, ParseInTheirShells) {
    struct Shell {
        const char* dir;
        const char* shell;
    };
    std::string missing;
    for (const Shell s : {Shell{"bash", "bash"}, Shell{"zsh", "zsh"}, Shell{"fish", "fish"}}) {
        if (!have_program(s.shell)) {
            missing += std::string(missing.empty() ? "" : ", ") + s.shell;
            continue;
        }
        for (const auto& e : fs::directory_iterator(source_dir() / "completions" / s.dir)) {
            const Ran r = run({s.shell, "-n", e.path().string()});
            EXPECT_EQ(r.status, 0) << s.shell << " -n " << e.path() << ": " << r.err;
            EXPECT_EQ(r.err, "") << s.shell << " -n " << e.path();
        }
    }
    if (!missing.empty()) GTEST_SKIP() << "not installed, so their completions went unchecked: " << missing;
}

class DocsTool : public ::testing::TestWithParam<Tool> {};

TEST_P(DocsTool, EveryLongOptionIsDocumentedAndCompleted) {
    const Tool& t = GetParam();
    const Help help = help_of(t);
    ASSERT_FALSE(help.options.empty()) << "no options found in '" << t.command() << " --help'";
    const std::string man = unroff(read_file(source_dir() / t.man));
    ASSERT_FALSE(man.empty()) << "cannot read " << t.man;
    const std::string bash = read_file(t.bash()), zsh = read_file(t.zsh()), fish = read_file(t.fish());
    ASSERT_FALSE(bash.empty()) << "cannot read " << t.bash();
    ASSERT_FALSE(zsh.empty()) << "cannot read " << t.zsh();
    ASSERT_FALSE(fish.empty()) << "cannot read " << t.fish();

    for (const auto& option : help.options) {
        SCOPED_TRACE("'" + t.command() + " " + option + "'");
        EXPECT_TRUE(contains_word(man, option)) << option << " is not in " << t.man;
        EXPECT_TRUE(contains_word(bash, option)) << option << " is not in " << t.bash();
        EXPECT_TRUE(contains_word(zsh, option)) << option << " is not in " << t.zsh();
        EXPECT_TRUE(fish_has_option(fish, option)) << option << " is not in " << t.fish();
    }

    // The subcommand's SYNOPSIS entry lists its options.
    if (!t.sub.empty()) {
        const std::string synopsis = unroff(man_section(read_file(source_dir() / t.man), "SYNOPSIS"));
        const std::string start = ".B " + t.command();
        const size_t at = synopsis.find(start);
        ASSERT_NE(at, std::string::npos) << t.man << " SYNOPSIS has no '" << start << "'";
        const size_t stop = synopsis.find("\n.br", at);
        const std::string entry = synopsis.substr(at, stop == std::string::npos ? std::string::npos : stop - at);
        for (const auto& option : help.options) {
            if (option == "--help") continue;
            EXPECT_TRUE(contains_word(entry, option))
                << t.man << " SYNOPSIS of '" << t.command() << "' does not show " << option;
        }
    }
}

TEST_P(DocsTool, BashAndFishOfferEveryLongOption) {
    const Tool& t = GetParam();
    const Help help = help_of(t);
    std::vector<std::string> words = {t.name};
    words.insert(words.end(), t.sub.begin(), t.sub.end());
    words.push_back("--");

    const auto bash_offered = bash_offers(t.bash(), words);
    for (const auto& option : help.options)
        EXPECT_TRUE(bash_offered.count(option)) << "bash does not complete '" << t.command() << " " << option
                                                << "'; it offers: " << join(bash_offered);
    if (!have_program("fish")) GTEST_SKIP() << "fish is not installed; its completions went unchecked";
    const auto fish_offered = fish_offers(t.fish(), t.command() + " --");
    for (const auto& option : help.options)
        EXPECT_TRUE(fish_offered.count(option)) << "fish does not complete '" << t.command() << " " << option
                                                << "'; it offers: " << join(fish_offered);
}

INSTANTIATE_TEST_SUITE_P(Tools, DocsTool, ::testing::ValuesIn(all_tools()),
                         [](const ::testing::TestParamInfo<Tool>& info) { return info.param.id; });

// The tools with their own --help footer and, maybe, subcommands.
std::vector<Tool> top_level_tools() {
    std::vector<Tool> tools;
    for (const auto& t : all_tools())
        if (t.sub.empty()) tools.push_back(t);
    return tools;
}

TEST(DocsSubcommands, AreInTheSynopsisAndCompleted) {
    int checked = 0;
    for (const auto& t : top_level_tools()) {
        const Help help = help_of(t);
        if (help.subcommands.empty()) continue;   // dropto
        const std::string synopsis = unroff(man_section(read_file(source_dir() / t.man), "SYNOPSIS"));
        const std::string bash = read_file(t.bash()), zsh = read_file(t.zsh()), fish = read_file(t.fish());
        const auto bash_set = bash_offers(t.bash(), {t.name, ""});
        const bool have_fish = have_program("fish");
        const auto fish_set = have_fish ? fish_offers(t.fish(), t.name + " ") : std::set<std::string>{};
        for (const auto& sub : help.subcommands) {
            ++checked;
            const std::string command = t.name + " " + sub;
            EXPECT_TRUE(contains_word(synopsis, command)) << t.man << " SYNOPSIS lacks '" << command << "'";
            EXPECT_TRUE(contains_word(bash, sub)) << sub << " is not in " << t.bash();
            EXPECT_TRUE(contains_word(zsh, sub)) << sub << " is not in " << t.zsh();
            EXPECT_TRUE(contains_word(fish, sub)) << sub << " is not in " << t.fish();
            EXPECT_TRUE(bash_set.count(sub)) << "bash does not complete '" << command << "'";
            if (have_fish) {
                EXPECT_TRUE(fish_set.count(sub)) << "fish does not complete '" << command << "'";
            }
        }
    }
    EXPECT_GE(checked, 10) << "expected portauth's 7 and portreserve's 3 subcommands in their --help";
}

// 'portauth <TAB>' offers the subcommands, not every command on PATH; the
// adverb's PROGRAM comes from PATH only when the prefix names no subcommand.
TEST(DocsCompletions, BashOffersPortauthsSubcommandsBeforeCommandsOnPath) {
    const fs::path bash = source_dir() / "completions/bash/portauth";
    EXPECT_EQ(bash_offers(bash, {"portauth", ""}),
              (std::set<std::string>{"apply", "allow", "check", "list", "revoke", "status", "unload"}));
    EXPECT_EQ(bash_offers(bash, {"portauth", "a"}), (std::set<std::string>{"apply", "allow"}))
        << "a prefix that names subcommands offers only them, not apt or awk";
    const auto program = bash_offers(bash, {"portauth", "bas"});
    EXPECT_TRUE(program.count("bash")) << "no subcommand starts with 'bas': PROGRAM from PATH; offered: " << join(program);
    const auto options = bash_offers(bash, {"portauth", "--"});
    EXPECT_TRUE(options.count("--deep") && options.count("--help")) << join(options);
}

TEST(DocsExitStatus, HelpFootersMatchTheManPages) {
    for (const auto& t : top_level_tools()) {
        const Help help = help_of(t);
        EXPECT_FALSE(help.exit_statuses.empty()) << "'" << t.name << " --help' names no exit statuses";
        const std::string section = unroff(man_section(read_file(source_dir() / t.man), "EXIT STATUS"));
        for (int status : help.exit_statuses)
            EXPECT_TRUE(contains_word(section, std::to_string(status)))
                << "'" << t.name << " --help' names exit status " << status << ", " << t.man << " EXIT STATUS does not";
    }
}

// The kExit* constants: what portauth can exit with.
std::set<int> exit_constants() {
    const std::string header = read_file(source_dir() / "tools/portauth/commands.hpp");
    const std::regex constant(R"(\bkExit\w*\s*=\s*(\d+)\s*;)");
    std::set<int> values;
    for (std::sregex_iterator it(header.begin(), header.end(), constant), end; it != end; ++it)
        values.insert(std::stoi((*it)[1]));
    return values;
}

TEST(DocsExitStatus, EveryConstantIsInPortauth8) {
    const std::set<int> values = exit_constants();
    ASSERT_FALSE(values.empty()) << "no kExit* constants found in tools/portauth/commands.hpp";
    const std::string section = man_section(read_file(source_dir() / "man/portauth.8"), "EXIT STATUS");
    ASSERT_FALSE(section.empty()) << "man/portauth.8 has no EXIT STATUS section";
    // The tags of the section's .TP paragraphs.
    std::set<int> tagged;
    const auto lines = lines_of(section);
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
        std::smatch m;
        if (lines[i].rfind(".TP", 0) == 0 && std::regex_match(lines[i + 1], m, std::regex(R"(\.BR?\s+(\d+)\s*)")))
            tagged.insert(std::stoi(m[1]));
    }
    for (int v : values) EXPECT_TRUE(tagged.count(v)) << "exit status " << v << " is not a tag in portauth(8) EXIT STATUS";
}

TEST(DocsExitStatus, EveryConstantIsInPortauthHelp) {
    Tool t{"portauth", PORTAUTH_BIN, "portauth", {}, "man/portauth.8"};
    const Help help = help_of(t);
    for (int v : exit_constants())
        EXPECT_TRUE(help.exit_statuses.count(v)) << "exit status " << v << " is not in 'portauth --help'";
}

// portauth's tools use two exit-status schemes (adverbs: 100/111/126/127;
// portwatch: the monitoring-plugin 0-3). Every command's page shows both,
// side by side and in the same words, with every status of each.
TEST(DocsExitStatus, EveryPageShowsBothSchemesSideBySide) {
    const std::string title = ".SS \"The two schemes, side by side\"";
    std::string first;
    for (const char* page : {"man/portauth.8", "man/portreserve.8", "man/dropto.1", "man/portwatch.8", "man/authbind.1"}) {
        const std::string section = man_section(read_file(source_dir() / page), "EXIT STATUS");
        const size_t at = section.find(title);
        ASSERT_NE(at, std::string::npos) << page << " EXIT STATUS has no '" << title << "'";
        const std::string both = section.substr(at);
        if (first.empty()) first = both;
        EXPECT_EQ(both, first) << page << " says it in other words than man/portauth.8";
        const std::string text = unroff(both);
        for (int v : exit_constants())
            EXPECT_TRUE(contains_word(text, std::to_string(v))) << page << ": portauth's exit status " << v << " is not shown";
        for (const char* words : {"0 clean, 1 squatters, 2 error", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN", "0 done, 2 error",
                                  "Usage errors exit 2 (check: 3, UNKNOWN)", "Why: portwatch check is a monitoring plugin",
                                  "Why: these are adverbs"})
            EXPECT_NE(text.find(words), std::string::npos) << page << " does not say '" << words << "'";
    }
}

// The variables read with getenv/secure_getenv under `roots` (PORTAUTH_TEST_*
// are hooks for the test suite, not for users).
std::set<std::string> variables_read(const std::vector<fs::path>& roots) {
    const std::regex getenv_call(R"(getenv\s*\(\s*"([A-Z][A-Z0-9_]*)\")");
    std::set<std::string> names;
    for (const auto& root : roots) {
        std::vector<fs::path> files;
        if (fs::is_regular_file(root)) files.push_back(root);
        else
            for (const auto& e : fs::recursive_directory_iterator(root))
                if (e.is_regular_file()) files.push_back(e.path());
        for (const auto& file : files) {
            const std::string ext = file.extension().string();
            if (ext != ".cpp" && ext != ".hpp" && ext != ".h" && ext != ".c") continue;
            const std::string text = read_file(file);
            for (std::sregex_iterator it(text.begin(), text.end(), getenv_call), end; it != end; ++it)
                if (std::string((*it)[1]).rfind("PORTAUTH_TEST_", 0) != 0) names.insert((*it)[1]);
        }
    }
    return names;
}

TEST(DocsEnvironment, VariablesTheCodeReadsAreInTheManPages) {
    const fs::path src = source_dir();
    struct Page {
        const char* man;
        std::vector<fs::path> roots;   // the code that tool runs
        std::set<std::string> at_least;
    };
    const std::vector<fs::path> portauth_code = {src / "tools/portauth", src / "lib/common", src / "lib/policy", src / "lib/engine"};
    const std::vector<Page> pages = {
        {"man/portauth.8", portauth_code, {"PORTAUTH_POLICY_DIR", "PORTAUTH_PIN_DIR", "NO_COLOR"}},
        {"man/portreserve.8", portauth_code, {"PORTAUTH_POLICY_DIR", "PORTAUTH_PIN_DIR", "NO_COLOR"}},
        {"man/portwatch.8",
         {src / "tools/portwatch", src / "lib/portwatch", src / "lib/common", src / "lib/policy", src / "lib/engine"},
         {"PORTAUTH_POLICY_DIR", "PORTAUTH_PIN_DIR", "NO_COLOR"}},
        {"man/dropto.1", {src / "tools/dropto", src / "lib/dropto"}, {}},
    };
    for (const auto& page : pages) {
        if (!fs::exists(src / page.man)) continue;   // a tool not in this tree yet
        const std::set<std::string> names = variables_read(page.roots);
        for (const auto& n : page.at_least)
            EXPECT_TRUE(names.count(n)) << "found no getenv(\"" << n << "\") in the code behind " << page.man
                                        << "; point this test at where it is read now";
        const std::string section = unroff(man_section(read_file(src / page.man), "ENVIRONMENT"));
        for (const auto& n : names)
            EXPECT_TRUE(contains_word(section, n)) << n << " is read by the code but not in " << page.man << " ENVIRONMENT";
    }
}

TEST(DocsPortauth8, EveryPinIsInFiles) {
    const std::string engine = read_file(source_dir() / "lib/engine/engine.cpp");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(engine, m, std::regex(R"(kPins\[\]\s*=\s*\{([^}]*)\})")))
        << "lib/engine/engine.cpp has no kPins[] = {...} list any more; point this test at the pins' new home";
    const std::string list = m[1];
    const std::string files = unroff(man_section(read_file(source_dir() / "man/portauth.8"), "FILES"));
    const std::regex quoted("\"([^\"]+)\"");
    int count = 0;
    for (std::sregex_iterator it(list.begin(), list.end(), quoted), end; it != end; ++it, ++count)
        EXPECT_TRUE(contains_word(files, (*it)[1])) << "pin '" << (*it)[1] << "' is not in portauth(8) FILES";
    EXPECT_GT(count, 0);
}

// ---------------------------------------------------------------------------
// --version, --help

TEST(DocsVersion, EveryToolPrintsItsNameAndTheProjectVersion) {
    const std::regex title(R"re(^\.TH\s+\S+\s+\d\s+"[^"]*"\s+"([^"]*)")re");
    for (const auto& t : top_level_tools()) {
        const Ran r = run({t.bin, "--version"});
        EXPECT_EQ(r.status, 0) << t.name << " --version: " << r.err;
        EXPECT_EQ(r.out, t.name + " " + PORTAUTH_VERSION + "\n") << t.name << " --version";
        // The man page's title line names the version it documents.
        std::smatch m;
        const std::string roff = read_file(source_dir() / t.man);
        const std::string first = roff.substr(0, roff.find('\n'));
        ASSERT_TRUE(std::regex_search(first, m, title)) << t.man << " has no .TH line with a source (\"portauth X.Y.Z\")";
        EXPECT_EQ(m[1].str(), std::string("portauth ") + PORTAUTH_VERSION) << t.man << " .TH names another version";
    }
}

TEST(DocsHelp, ShowsUsageAndExamples) {
    for (const auto& t : all_tools()) {
        std::vector<std::string> argv = {t.bin};
        argv.insert(argv.end(), t.sub.begin(), t.sub.end());
        argv.push_back("--help");
        const Ran r = run(argv);
        EXPECT_EQ(r.status, 0) << t.command() << " --help";
        EXPECT_NE(r.out.find("Usage:"), std::string::npos) << "'" << t.command() << " --help' shows no usage";
        EXPECT_NE(r.out.find("Examples:"), std::string::npos) << "'" << t.command() << " --help' shows no examples";
    }
}

// One usage, under the tool's name (not the path it was run by), and each
// command's own examples: every example line of a subcommand's help runs
// that subcommand.
TEST(DocsHelp, OneUsageUnderTheToolsNameAndEachCommandsOwnExamples) {
    for (const auto& t : all_tools()) {
        std::vector<std::string> argv = {t.bin};
        argv.insert(argv.end(), t.sub.begin(), t.sub.end());
        argv.push_back("--help");
        const Ran r = run(argv);
        const auto first = r.out.find("Usage:");
        ASSERT_NE(first, std::string::npos) << t.command() << " --help";
        EXPECT_EQ(r.out.find("Usage:", first + 1), std::string::npos) << "'" << t.command() << " --help' shows two usages:\n" << r.out;
        EXPECT_EQ(r.out.compare(first, 7 + t.command().size(), "Usage: " + t.command()), 0)
            << "'" << t.command() << " --help' does not start its usage with its own name:\n" << r.out;
        if (t.sub.empty()) continue;
        const std::string examples = r.out.substr(r.out.find("Examples:"));
        for (const auto& line : lines_of(examples)) {
            if (line.rfind("  " + t.name + " ", 0) != 0) continue;
            EXPECT_EQ(line.rfind("  " + t.command() + " ", 0), 0u) << "'" << t.command() << " --help' shows another command's example: " << line;
        }
    }
}

// A parse error: the tool's name, CLI11's message, where to read more, and
// the tool's usage status (100; portwatch 2, its check 3).
TEST(DocsHelp, ParseErrorsNameTheToolAndTheHelpToRead) {
    struct Case {
        std::vector<std::string> argv;
        std::string err;
        int status;
    };
    std::vector<Case> cases = {
        {{PORTRESERVE_BIN, "add", "udp/5060"}, "portreserve: OWNER is required\nRun 'portreserve add --help' for usage.\n", 100},
        {{PORTRESERVE_BIN}, "portreserve: A subcommand is required\nRun 'portreserve --help' for usage.\n", 100},
        {{PORTAUTH_BIN, "check"}, "portauth: SPEC is required\nRun 'portauth check --help' for usage.\n", 100},
        {{PORTAUTH_BIN, "status", "--bogus"},
         "portauth: The following argument was not expected: --bogus\nRun 'portauth status --help' for usage.\n", 100},
    };
#ifdef PORTWATCH_BIN
    cases.push_back({{PORTWATCH_BIN}, "portwatch: A subcommand is required\nRun 'portwatch --help' for usage.\n", 2});
    cases.push_back({{PORTWATCH_BIN, "check", "--bogus"},
                     "portwatch: The following argument was not expected: --bogus\nRun 'portwatch check --help' for usage.\n", 3});
#endif
    for (const auto& c : cases) {
        const Ran r = run(c.argv);
        EXPECT_EQ(r.err, c.err) << c.argv.size() << " words, from " << c.argv[0];
        EXPECT_EQ(r.status, c.status) << r.err;
        EXPECT_EQ(r.out, "") << r.err;
    }
}

// The per-subcommand tests above cover the subcommands listed in all_tools():
// a new one must be listed there, so its options are checked too.
TEST(DocsSubcommands, AllAreCheckedByThisTest) {
    const auto tools = all_tools();
    for (const auto& top : top_level_tools()) {
        const Help help = help_of(top);
        std::set<std::string> listed;
        for (const auto& t : tools)
            if (t.name == top.name && !t.sub.empty()) listed.insert(t.sub[0]);
        const std::set<std::string> shown(help.subcommands.begin(), help.subcommands.end());
        EXPECT_EQ(listed, shown) << "'" << top.name << " --help' lists other subcommands than all_tools() in "
                                 << "tests/docs/docs_test.cpp: " << join(shown) << " vs " << join(listed);
    }
}

// ---------------------------------------------------------------------------
// Colour, as the man pages' ENVIRONMENT sections promise: only on a terminal,
// never with NO_COLOR set (to anything but ""), never with TERM=dumb or unset,
// never in --json.

// Runs argv with its standard output on a pseudo-terminal (raw, so no "\r" is
// added); stdin is /dev/null, stderr is discarded. Returns status and output.
Ran run_on_pty(const std::vector<std::string>& argv, const std::vector<std::string>& env_changes) {
    Ran r;
    int master = -1, slave = -1;
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) {
        r.err = std::string("openpty: ") + std::strerror(errno);
        return r;
    }
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
    termios raw{};
    if (::tcgetattr(slave, &raw) == 0) {
        ::cfmakeraw(&raw);
        ::tcsetattr(slave, TCSANOW, &raw);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, slave, 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> env = child_environment(env_changes);
    std::vector<std::string> argv_copy = argv;
    std::vector<char*> envp, args;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (auto& a : argv_copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(slave);
    if (rc != 0) {
        ::close(master);
        r.err = "cannot run '" + argv[0] + "': " + std::strerror(rc);
        return r;
    }
    // Read until the child's end closes (EIO on Linux once no slave fd is open).
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(master, buf, sizeof buf);
        if (n > 0) r.out.append(buf, static_cast<size_t>(n));
        else if (n < 0 && errno == EINTR) continue;
        else break;
    }
    ::close(master);
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return r;
}

bool pty_available() {
    int master = -1, slave = -1;
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return false;
    ::close(master);
    ::close(slave);
    return true;
}

bool has_escape(const std::string& text) { return text.find('\033') != std::string::npos; }

std::string strip_escapes(const std::string& text) { return std::regex_replace(text, std::regex("\033\\[[0-9;]*m"), ""); }

// A throw-away directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/portauth-docs-XXXXXX";
        if (::mkdtemp(tmpl)) path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// One invocation and what its colour must be in each setting.
struct Coloured {
    std::vector<std::string> argv;
    int status;
    std::string painted;   // a text that must appear painted on a colour terminal
};

void expect_colour_rules(const Coloured& c) {
    const std::string what = std::accumulate(c.argv.begin() + 1, c.argv.end(), std::string("'") + fs::path(c.argv[0]).filename().string(),
                                             [](std::string a, const std::string& b) { return a + " " + b; }) + "'";
    const std::vector<std::string> colour_term = {"TERM=xterm-256color", "NO_COLOR"};

    const Ran piped = run(c.argv, colour_term);
    EXPECT_EQ(piped.status, c.status) << what << " on a pipe: " << piped.err;
    EXPECT_FALSE(has_escape(piped.out)) << what << " on a pipe printed escape codes:\n" << piped.out;
    EXPECT_NE(piped.out.find(c.painted), std::string::npos) << what << ":\n" << piped.out;

    const Ran tty = run_on_pty(c.argv, colour_term);
    EXPECT_EQ(tty.status, c.status) << what << " on a terminal: " << tty.err;
    EXPECT_NE(tty.out.find("m" + c.painted + "\033[0m"), std::string::npos)
        << what << " on a terminal did not colour '" << c.painted << "':\n" << tty.out;
    EXPECT_EQ(strip_escapes(tty.out), piped.out) << what << ": colour changed more than the colour";

    const Ran empty_no_color = run_on_pty(c.argv, {"TERM=xterm-256color", "NO_COLOR="});
    EXPECT_TRUE(has_escape(empty_no_color.out)) << what << ": an empty NO_COLOR is no request (no-color.org)";

    for (const std::vector<std::string>& env : {std::vector<std::string>{"TERM=xterm-256color", "NO_COLOR=1"},
                                                std::vector<std::string>{"TERM=xterm-256color", "NO_COLOR=no"},
                                                std::vector<std::string>{"TERM=dumb", "NO_COLOR"},
                                                std::vector<std::string>{"TERM", "NO_COLOR"}}) {
        const Ran plain = run_on_pty(c.argv, env);
        EXPECT_EQ(plain.status, c.status) << what << " with " << env[0] << " " << env[1];
        EXPECT_FALSE(has_escape(plain.out)) << what << " on a terminal with " << env[0] << " " << env[1]
                                            << " printed escape codes:\n" << plain.out;
        EXPECT_EQ(plain.out, piped.out) << what << " with " << env[0] << " " << env[1];
    }
}

TEST(DocsColour, StatusOnlyOnATerminalWithoutNoColor) {
    if (!pty_available()) GTEST_SKIP() << "no pseudo-terminals here (openpty: " << std::strerror(errno) << ")";
    TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    const std::string pins = (tmp.path() / "no-pins-here").string();
    expect_colour_rules({{PORTAUTH_BIN, "status", "--pin-dir", pins}, 1, "not active"});

    // --json is for programs: never colour, even on a colour terminal.
    const Ran json = run_on_pty({PORTAUTH_BIN, "status", "--json", "--pin-dir", pins}, {"TERM=xterm-256color", "NO_COLOR"});
    EXPECT_EQ(json.status, 1);
    EXPECT_FALSE(has_escape(json.out)) << json.out;
    EXPECT_EQ(json.out.rfind("{\"active\":false", 0), 0u) << json.out;
}

// check, list and portreserve list read a policy tree, which must be root's
// (portauth(5) HYGIENE): only as root.
TEST(DocsColour, CheckAndListOnlyOnATerminalWithoutNoColor) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: a policy tree must be owned by root";
    if (!pty_available()) GTEST_SKIP() << "no pseudo-terminals here (openpty: " << std::strerror(errno) << ")";
    TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    const fs::path tree = tmp.path() / "policy";
    for (const char* dir : {"", "byport", "reserve", "reserve/udp"}) {
        fs::create_directory(tree / dir);
        fs::permissions(tree / dir, fs::perms(0755));
    }
    const std::string dir = tree.string();
    const Ran allow = run({PORTAUTH_BIN, "allow", "--no-apply", "--policy-dir", dir, "8080", "51000"});
    ASSERT_EQ(allow.status, 0) << allow.out << allow.err;
    const Ran reserve = run({PORTRESERVE_BIN, "add", "--no-apply", "--policy-dir", dir, "udp/5060", "51001"});
    ASSERT_EQ(reserve.status, 0) << reserve.out << reserve.err;
    // Entries that let nobody through: root's own, mode 0400.
    for (const char* entry : {"byport/8081", "reserve/udp/5061"}) {
        std::ofstream(tree / entry).flush();
        fs::permissions(tree / entry, fs::perms(0400));
    }

    expect_colour_rules({{PORTAUTH_BIN, "check", "--policy-dir", dir, "--user", "51000", "tcp/8080"}, 0, "ALLOWED"});
    expect_colour_rules({{PORTAUTH_BIN, "check", "--policy-dir", dir, "--user", "51000", "udp/5060"}, 1, "REFUSED"});
    expect_colour_rules({{PORTAUTH_BIN, "list", "--policy-dir", dir}, 0, "(nobody)"});
    expect_colour_rules({{PORTRESERVE_BIN, "list", "--policy-dir", dir}, 0, "(nobody)"});

    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{PORTAUTH_BIN, "check", "--json", "--policy-dir", dir, "--user", "51000", "tcp/8080"},
          std::vector<std::string>{PORTAUTH_BIN, "list", "--json", "--policy-dir", dir},
          std::vector<std::string>{PORTRESERVE_BIN, "list", "--json", "--policy-dir", dir}}) {
        const Ran json = run_on_pty(argv, {"TERM=xterm-256color", "NO_COLOR"});
        EXPECT_FALSE(has_escape(json.out)) << argv[1] << " --json on a terminal:\n" << json.out;
    }
}

// What one of the zsh completion's own functions offers, in a plain zsh -f
// with the completion system's functions stubbed: compadd prints its matches,
// _call_program runs its command line as zsh's does, opt_args holds
// --policy-dir. (Driving real completion needs a terminal and zpty.)
std::set<std::string> zsh_function_offers(const fs::path& file, const std::string& function, const std::string& policy_dir,
                                          const std::vector<std::string>& env, std::string* err) {
    const std::string script = R"(
_arguments() { return 1 }; _describe() { return 1 }; _command_names() { return 1 }
_call_program() { shift; eval "$*" }
_wanted() { shift 3; "$@" }
_message() { : }
compadd() { while (( $# )) && [[ $1 != -- ]]; do shift; done; shift; print -rl -- "$@" }
typeset -A opt_args
opt_args[--policy-dir]=$2
source $1 >/dev/null   # its body ends in the stubbed _arguments: a status of 1
$3
)";
    const Ran r = run({"zsh", "-f", "-c", script, "zsh", file.string(), policy_dir, function}, env);
    EXPECT_EQ(r.status, 0) << "zsh " << function << " from " << file << " failed: " << r.err;
    if (err) *err = r.err;
    const auto lines = lines_of(r.out);
    return {lines.begin(), lines.end()};
}

// portreserve release <TAB> offers the reservations in the tree (the one
// --policy-dir names), portauth revoke <TAB> the grants, in all three shells;
// a tree that cannot be listed costs the offer, never a message on the screen.
TEST(DocsCompletions, OfferTheExistingReservationsAndGrants) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: a policy tree must be owned by root";
    TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    fs::permissions(tmp.path(), fs::perms(0755));
    const fs::path tree = tmp.path() / "policy";
    fs::create_directory(tree);
    fs::permissions(tree, fs::perms(0755));
    const std::string dir = tree.string();
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{PORTRESERVE_BIN, "add", "udp/5060", "51001"},
          {PORTRESERVE_BIN, "add", "tcp/6000-6099@127.0.0.1", "%51002"},
          {PORTRESERVE_BIN, "add", "udp/5061@[::1]", "51001"},
          {PORTAUTH_BIN, "allow", "80", "51000"},
          {PORTAUTH_BIN, "allow", "600", "51000"},   // byport/!600
          {PORTAUTH_BIN, "allow", "443@127.0.0.1", "51000"},
          {PORTAUTH_BIN, "allow", "8443@[::1]", "%51002"}}) {
        std::vector<std::string> edit = {argv[0], argv[1], "--no-apply", "--policy-dir", dir};
        edit.insert(edit.end(), argv.begin() + 2, argv.end());
        const Ran r = run(edit);
        ASSERT_EQ(r.status, 0) << argv[1] << " " << argv[2] << ": " << r.out << r.err;
    }
    // The completions run the tools by name, as on an installed system.
    const char* path = std::getenv("PATH");
    const std::vector<std::string> env = {"PATH=" + fs::path(PORTAUTH_BIN).parent_path().string() + ":" +
                                          fs::path(PORTRESERVE_BIN).parent_path().string() + ":" + (path ? path : "/usr/bin:/bin")};
    const std::set<std::string> reservations = {"udp/5060", "tcp/6000-6099@127.0.0.1", "udp/5061@[::1]"};
    const std::set<std::string> grants = {"80", "600", "443@127.0.0.1", "8443@[::1]"};
    const std::set<std::string> protocols = {"tcp/", "udp/"};
    const fs::path completions = source_dir() / "completions";
    const std::string missing = (tmp.path() / "missing").string();
    // A tree owned by someone other than root: list refuses it, with a message.
    const fs::path foreign = tmp.path() / "foreign";
    fs::create_directory(foreign);
    ASSERT_EQ(::chown(foreign.c_str(), 51000, 51000), 0) << std::strerror(errno);
    std::string err;

    const fs::path bash_reserve = completions / "bash/portreserve", bash_auth = completions / "bash/portauth";
    EXPECT_EQ(bash_offers(bash_reserve, {"portreserve", "release", "--policy-dir", dir, ""}, env), reservations);
    EXPECT_EQ(bash_offers(bash_reserve, {"portreserve", "release", "--policy-dir=" + dir, "udp/"}, env),
              (std::set<std::string>{"udp/5060", "udp/5061@[::1]"}));
    EXPECT_EQ(bash_offers(bash_reserve, {"portreserve", "add", "--policy-dir", dir, ""}, env), protocols)
        << "add makes a new reservation: the protocols, not the existing ones";
    EXPECT_EQ(bash_offers(bash_auth, {"portauth", "revoke", "--policy-dir", dir, ""}, env), grants);
    EXPECT_EQ(bash_offers(bash_auth, {"portauth", "revoke", "--policy-dir", dir, "44"}, env),
              (std::set<std::string>{"443@127.0.0.1"}));
    for (const std::string& unreadable : {missing, foreign.string()}) {
        EXPECT_EQ(bash_offers(bash_reserve, {"portreserve", "release", "--policy-dir", unreadable, ""}, env, &err), protocols);
        EXPECT_EQ(err, "") << "bash printed on TAB for " << unreadable;
        auto offered = bash_offers(bash_auth, {"portauth", "revoke", "--policy-dir", unreadable, ""}, env, &err);
        offered.erase("");   // the harness prints an empty COMPREPLY as one empty line
        EXPECT_EQ(offered, std::set<std::string>{});
        EXPECT_EQ(err, "") << "bash printed on TAB for " << unreadable;
    }

    const fs::path zsh_reserve = completions / "zsh/_portreserve", zsh_auth = completions / "zsh/_portauth";
    if (have_program("zsh")) {
        EXPECT_EQ(zsh_function_offers(zsh_reserve, "_portreserve_release_spec", dir, env, &err), reservations);
        EXPECT_EQ(zsh_function_offers(zsh_auth, "_portauth_revoke_spec", dir, env, &err), grants);
        for (const std::string& unreadable : {missing, foreign.string()}) {
            EXPECT_EQ(zsh_function_offers(zsh_reserve, "_portreserve_release_spec", unreadable, env, &err), protocols);
            EXPECT_EQ(err, "") << "zsh printed on TAB for " << unreadable;
            EXPECT_EQ(zsh_function_offers(zsh_auth, "_portauth_revoke_spec", unreadable, env, &err), std::set<std::string>{});
            EXPECT_EQ(err, "") << "zsh printed on TAB for " << unreadable;
        }
    }

    if (!have_program("zsh") || !have_program("fish"))
        GTEST_SKIP() << "zsh or fish is not installed; its completions went unchecked";
    const fs::path fish_reserve = completions / "fish/portreserve.fish", fish_auth = completions / "fish/portauth.fish";
    EXPECT_EQ(fish_offers(fish_reserve, "portreserve release --policy-dir " + dir + " ", env), reservations);
    EXPECT_EQ(fish_offers(fish_reserve, "portreserve release --policy-dir=" + dir + " udp/", env),
              (std::set<std::string>{"udp/5060", "udp/5061@[::1]"}));
    EXPECT_EQ(fish_offers(fish_reserve, "portreserve add --policy-dir " + dir + " ", env), protocols);
    EXPECT_EQ(fish_offers(fish_auth, "portauth revoke --policy-dir " + dir + " ", env), grants);
    for (const std::string& unreadable : {missing, foreign.string()}) {
        EXPECT_EQ(fish_offers(fish_reserve, "portreserve release --policy-dir " + unreadable + " ", env, &err), protocols);
        EXPECT_EQ(err, "") << "fish printed on TAB for " << unreadable;
        EXPECT_EQ(fish_offers(fish_auth, "portauth revoke --policy-dir " + unreadable + " ", env, &err), std::set<std::string>{});
        EXPECT_EQ(err, "") << "fish printed on TAB for " << unreadable;
    }
}

}  // namespace
