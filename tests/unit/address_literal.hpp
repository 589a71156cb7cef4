// An address a test writes as text: a typo fails the test instead of
// quietly becoming 0.0.0.0.
#pragma once

#include <gtest/gtest.h>

#include "policy/model.hpp"

namespace portauth {

inline Address addr(const char* text) {
    auto a = Address::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(Address{});
}

}  // namespace portauth
