#include "output.hpp"

#include "common/utc_time.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>
#include <ctime>

namespace portauth::cli {

void setup_logging(const char* tool) {
    auto logger = spdlog::stderr_logger_st(tool);
    logger->set_pattern(std::string(tool) + ": %v");
    const char* debug = std::getenv("PORTAUTH_DEBUG");
    logger->set_level(debug && *debug && std::string(debug) != "0" ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

namespace {

// One MESSAGE_ID per kind of event (journalctl MESSAGE_ID=...), stable across releases.
const char* message_id(const std::string& event) {
    if (event == "applied") return "ba406f100c794b0ba475f262090788e3";
    if (event == "entry-disabled") return "c171306188364de6be1e09a8bf8c58b5";
    if (event == "refused") return "f28194ac054c401080bd805251f0acd8";
    if (event == "fallback") return "9bcf9f94dec7495fa8587f672c3876ad";
    if (event == "unloaded") return "a5ec0a1f964f490f8a35a1d99e1c024b";
    if (event == "edited") return "ee2d028cdf784b839938d08b89a40375";
    return "8160e1b16a6648f885e89c5673229a58";   // any other
}

bool send(Priority priority, const char* event, const std::string& message, const std::vector<JournalField>& fields) {
    std::vector<JournalField> all;
    all.reserve(fields.size() + 2);
    all.push_back({"MESSAGE_ID", message_id(event)});
    all.push_back({"PORTAUTH_EVENT", event});
    all.insert(all.end(), fields.begin(), fields.end());
    const auto logger = spdlog::default_logger();
    return journal_send(priority, logger ? logger->name() : "portauth", message, all);
}

}  // namespace

void announce(Priority priority, const char* event, const std::string& message, const std::vector<JournalField>& fields) {
    if (send(priority, event, message, fields) && fd_is_journal_stream(2)) return;
    switch (priority) {
        case Priority::emerg:
        case Priority::alert:
        case Priority::crit: spdlog::critical("{}", message); break;
        case Priority::err: spdlog::error("{}", message); break;
        case Priority::warning: spdlog::warn("{}", message); break;
        case Priority::notice:
        case Priority::info: spdlog::info("{}", message); break;
        case Priority::debug: spdlog::debug("{}", message); break;
    }
}

bool announce_stdout(Priority priority, const char* event, const std::string& message, const std::vector<JournalField>& fields) {
    return !(send(priority, event, message, fields) && fd_is_journal_stream(1));
}

std::string format_utc(int64_t seconds) { return utc_readable(seconds); }

}  // namespace portauth::cli
