// The portauth.conf grammar alone (lib/policy/conf_grammar.hpp): settings,
// blanks, comments, CRLF, and the exact sentence for each refusal.
// tree_test.cpp checks the file on disk (ownership, the byte limit).
#include <gtest/gtest.h>

#include <string>

#include "policy/conf_grammar.hpp"
#include "policy/limits.hpp"
#include "refusal_table.hpp"

namespace portauth {
namespace {

using namespace std::string_literals;

const std::string kFile = "/etc/portauth/portauth.conf";

TEST(ConfGrammar, Settings) {
    struct Case {
        std::string content;
        bool root_exempt;
    };
    for (const Case& c : {
             Case{"", true},
             Case{"\n\n", true},
             Case{"# portauth settings\n", true},
             Case{"# portauth settings\n\n  root-exempt   =   no  \n", false},
             Case{"root-exempt=yes", true},
             Case{"root-exempt = no\r\n", false},
             Case{"\troot-exempt\t=\tno\t\n", false},
             Case{"root-exempt = no\n# root-exempt = yes\n", false},
             Case{std::string(kMaxLineLength, '#') + "\nroot-exempt = no", false},
         }) {
        auto settings = parse_conf(c.content, kFile);
        ASSERT_TRUE(settings) << c.content << ": " << settings.error().what;
        EXPECT_EQ(settings->root_exempt, c.root_exempt) << c.content;
    }
}

TEST(ConfGrammar, RefusalsNameFileAndLine) {
    const auto parse = [](const std::string& content) { return parse_conf(content, kFile); };
    expect_refusals(parse, {
             Refusal{"# x\nstrict = yes\n", kFile + ":2: unknown setting 'strict' (known: root-exempt)"},
             Refusal{"Root-Exempt = no\n", kFile + ":1: unknown setting 'Root-Exempt' (known: root-exempt)"},
             Refusal{"= yes\n", kFile + ":1: unknown setting '' (known: root-exempt)"},
             Refusal{"root-exempt = maybe\n", kFile + ":1: root-exempt takes yes or no, not 'maybe'"},
             Refusal{"root-exempt = YES\n", kFile + ":1: root-exempt takes yes or no, not 'YES'"},
             Refusal{"root-exempt =\n", kFile + ":1: root-exempt takes yes or no, not ''"},
             Refusal{"root-exempt = =no\n", kFile + ":1: root-exempt takes yes or no, not '=no'"},
             Refusal{"root-exempt = no # strict\n", kFile + ":1: root-exempt takes yes or no, not 'no # strict'"},
             Refusal{"root-exempt = nox\n", kFile + ":1: root-exempt takes yes or no, not 'nox'"},
             Refusal{"root-exempt no\n", kFile + ":1: expected 'key = value'"},
             Refusal{"root-exempt = no\nroot-exempt = yes\n", kFile + ":2: root-exempt is already set on line 1"},
             Refusal{"root-exempt = no\n\nroot-exempt = maybe\n", kFile + ":3: root-exempt is already set on line 1"},
             Refusal{"root-exempt = no\0\n"s, kFile + ":1: contains a NUL byte"},
             Refusal{"# \0\nroot-exempt = no\n"s, kFile + ":1: contains a NUL byte"},
             Refusal{std::string(kMaxLineLength + 1, '#'), kFile + ":1: line longer than 512 characters (the limit)"},
         });
}

}  // namespace
}  // namespace portauth
