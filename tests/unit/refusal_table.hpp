// Tables of inputs a grammar refuses, each with the exact sentence it must
// refuse it with (tests compare error messages to the letter: users read them).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace portauth {

struct Refusal {
    std::string input;
    std::string error;   // Error::what, exactly
};

// `parse(input)` fails with exactly `error` and no errno (a grammar does no I/O).
template <class Parse>
void expect_refusals(Parse parse, std::initializer_list<Refusal> table) {
    for (const Refusal& r : table) {
        SCOPED_TRACE("input: '" + r.input + "'");
        auto result = parse(r.input);
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().what, r.error);
        EXPECT_EQ(result.error().err, 0);
    }
}

}  // namespace portauth
