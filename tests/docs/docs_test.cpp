// Documentation consistency (STYLE.md rule 11): the man pages, the shell
// completions and --help describe the same tools.
//
//   - every man page in man/ renders with groff without a warning;
//   - every completion file passes bash -n / zsh -n / fish -n;
//   - every long option a tool's --help prints (portauth and each subcommand,
//     portreserve and each subcommand, dropto) is in the tool's man page and in
//     its bash, zsh and fish completions, and the bash and fish completions
//     actually offer it for that subcommand;
//   - every subcommand is in the man page's SYNOPSIS and in the completions;
//   - every exit status in tools/portauth/commands.hpp is in portauth(8)'s
//     EXIT STATUS, and the ones a tool's --help names are in its man page;
//   - the environment variables the code reads and the pins the engine makes
//     are in portauth(8).
//
// DOCS_TEST_SOURCE_DIR overrides the source tree that is checked (to see the
// tests fail on a deliberately broken copy).
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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

// Runs argv (looked up in PATH) with stdin from /dev/null, LC_ALL=C and the
// extra environment given; returns its exit status, stdout and stderr.
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

    std::vector<std::string> env = extra_env;   // first: they win over inherited ones
    env.push_back("LC_ALL=C");
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "LC_ALL=", 7) != 0) env.push_back(*e);
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
std::set<std::string> bash_offers(const fs::path& file, const std::vector<std::string>& words) {
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
    const Ran r = run(argv);
    EXPECT_EQ(r.status, 0) << "bash completion " << file << " failed: " << r.err;
    const auto lines = lines_of(r.out);
    return {lines.begin(), lines.end()};
}

// What the fish completion offers for the command line `line`.
std::set<std::string> fish_offers(const fs::path& file, const std::string& line) {
    const Ran r = run({"fish", "--no-config", "-c", "source $argv[1]; and complete -C $argv[2]", file.string(), line});
    EXPECT_EQ(r.status, 0) << "fish completion " << file << " failed: " << r.err;
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
        const Ran r = run({"groff", "-t", "-man", "-ww", "-z", page.string()});
        EXPECT_EQ(r.status, 0) << page;
        EXPECT_EQ(r.err, "") << page << " has groff warnings";
        EXPECT_FALSE(man_section(read_file(page), "NAME").empty()) << page << " has no NAME section";
    }
}

TEST(DocsManPages, OwnCrossReferencesExist) {
    std::set<std::string> ours = {"portauth", "portreserve", "dropto"};
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

TEST(DocsPortauth8, EnvironmentVariablesTheCodeReads) {
    const std::regex getenv_call(R"(getenv\s*\(\s*"(PORTAUTH_\w+)\")");
    std::set<std::string> names;
    std::vector<fs::path> roots = {source_dir() / "tools/portauth", source_dir() / "lib"};
    for (const auto& root : roots) {
        for (const auto& e : fs::recursive_directory_iterator(root)) {
            if (!e.is_regular_file() || e.path().string().find("/lib/dropto/") != std::string::npos) continue;
            const std::string ext = e.path().extension().string();
            if (ext != ".cpp" && ext != ".hpp" && ext != ".h" && ext != ".c") continue;
            const std::string text = read_file(e.path());
            for (std::sregex_iterator it(text.begin(), text.end(), getenv_call), end; it != end; ++it)
                names.insert((*it)[1]);
        }
    }
    ASSERT_FALSE(names.empty()) << "found no getenv(\"PORTAUTH_...\") in tools/portauth or lib";
    for (const char* page : {"man/portauth.8", "man/portreserve.8"}) {
        const std::string section = unroff(man_section(read_file(source_dir() / page), "ENVIRONMENT"));
        for (const auto& n : names) EXPECT_TRUE(contains_word(section, n)) << n << " is not in " << page << " ENVIRONMENT";
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

}  // namespace
