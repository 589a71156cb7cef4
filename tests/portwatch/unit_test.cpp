// portwatch's pure parts: the sock_diag reply parser and filter, WHEN, the
// output forms, the record (a temp SQLite file) and its migration, metrics.
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sqlite3.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <filesystem>

#include "portwatch/actions.hpp"
#include "portwatch/report.hpp"
#include "portwatch/scanner.hpp"
#include "portwatch/sockdiag.hpp"
#include "portwatch/store.hpp"
#include "portwatch/watcher.hpp"
#include "temp_dir.hpp"

using namespace portauth;
using namespace portauth::watch;

namespace {

void append_msg(std::vector<uint8_t>& out, uint16_t type, const void* payload, size_t len) {
    nlmsghdr h{};
    h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
    h.nlmsg_type = type;
    const size_t at = out.size();
    out.resize(at + NLMSG_SPACE(len));
    std::memcpy(out.data() + at, &h, sizeof h);
    std::memcpy(out.data() + at + NLMSG_HDRLEN, payload, len);
}

inet_diag_msg diag_msg(int family, const char* addr, uint16_t port, uint32_t uid, uint32_t inode) {
    inet_diag_msg m{};
    m.idiag_family = static_cast<uint8_t>(family);
    m.idiag_state = 10;
    m.id.idiag_sport = htons(port);
    inet_pton(family, addr, m.id.idiag_src);
    m.idiag_uid = uid;
    m.idiag_inode = inode;
    return m;
}

// A database written by someone else than Database (an older portwatch, another program).
void make_sqlite(const std::string& path, const char* sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    sqlite3_close(raw);
}


}  // namespace

TEST(PortwatchDiag, ParsesSocketsAndDone) {
    std::vector<uint8_t> buf;
    auto a = diag_msg(AF_INET, "127.0.0.1", 5060, 51001, 77);
    auto b = diag_msg(AF_INET6, "::ffff:10.0.0.1", 6000, 51002, 78);
    auto c = diag_msg(AF_INET6, "2001:db8::1", 6001, 0, 79);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, &a, sizeof a);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, &b, sizeof b);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, &c, sizeof c);
    int zero = 0;
    append_msg(buf, NLMSG_DONE, &zero, sizeof zero);
    auto r = parse_inet_diag_reply(buf, Proto::udp);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->done);
    ASSERT_EQ(r->sockets.size(), 3u);
    EXPECT_EQ(r->sockets[0].addr.str(), "127.0.0.1");
    EXPECT_EQ(r->sockets[0].port, 5060);
    EXPECT_EQ(r->sockets[0].uid, 51001u);
    EXPECT_EQ(r->sockets[0].inode, 77u);
    EXPECT_EQ(r->sockets[0].proto, Proto::udp);
    // A v4-mapped local address is the IPv4 address.
    EXPECT_TRUE(r->sockets[1].addr.is_v4());
    EXPECT_EQ(r->sockets[1].addr.str(), "10.0.0.1");
    EXPECT_EQ(r->sockets[1].family, AF_INET6);
    EXPECT_EQ(r->sockets[2].addr.str(), "2001:db8::1");
}

TEST(PortwatchDiag, RejectsTruncatedAndBadLengths) {
    std::vector<uint8_t> buf;
    auto a = diag_msg(AF_INET, "127.0.0.1", 5060, 1, 1);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, &a, sizeof a);
    for (size_t cut : {size_t{3}, size_t{16}, size_t{40}, buf.size() - 1}) {
        std::vector<uint8_t> part(buf.begin(), buf.begin() + static_cast<long>(cut));
        EXPECT_FALSE(parse_inet_diag_reply(part, Proto::tcp)) << cut;
    }
    auto bad = buf;
    reinterpret_cast<nlmsghdr*>(bad.data())->nlmsg_len = 0xffff;
    EXPECT_FALSE(parse_inet_diag_reply(bad, Proto::tcp));
    reinterpret_cast<nlmsghdr*>(bad.data())->nlmsg_len = 4;
    EXPECT_FALSE(parse_inet_diag_reply(bad, Proto::tcp));
    // A short payload of the right type.
    std::vector<uint8_t> shortmsg;
    uint32_t junk = 1;
    append_msg(shortmsg, SOCK_DIAG_BY_FAMILY, &junk, sizeof junk);
    EXPECT_FALSE(parse_inet_diag_reply(shortmsg, Proto::tcp));
    // An empty buffer is an empty batch, not done.
    auto empty = parse_inet_diag_reply({}, Proto::tcp);
    ASSERT_TRUE(empty);
    EXPECT_FALSE(empty->done);
}

TEST(PortwatchDiag, ErrorMessageCarriesErrno) {
    std::vector<uint8_t> buf;
    nlmsgerr e{};
    e.error = -EPERM;
    append_msg(buf, NLMSG_ERROR, &e, sizeof e);
    auto r = parse_inet_diag_reply(buf, Proto::tcp);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().err, EPERM);
}

TEST(PortwatchDiag, ADumpEndingInAnErrorIsNotComplete) {
    // The kernel ends a dump that fails part way with NLMSG_DONE carrying the
    // errno (here: no diag handler for the protocol); it must not read as done.
    std::vector<uint8_t> buf;
    auto a = diag_msg(AF_INET, "127.0.0.1", 5060, 1, 1);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, &a, sizeof a);
    int32_t code = -ENOENT;
    append_msg(buf, NLMSG_DONE, &code, sizeof code);
    auto r = parse_inet_diag_reply(buf, Proto::udp);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().err, ENOENT);
    // Error codes the kernel cannot send are malformed replies, not errnos
    // (INT_MIN once overflowed the negation: fuzz/regressions/fuzz_sockdiag).
    for (int32_t bad : {INT32_MIN, -4096, 7}) {
        std::vector<uint8_t> e;
        append_msg(e, NLMSG_ERROR, &bad, sizeof bad);
        auto err = parse_inet_diag_reply(e, Proto::tcp);
        ASSERT_FALSE(err) << bad;
        EXPECT_EQ(err.error().err, 0) << bad;
        EXPECT_NE(err.error().what.find("out of range"), std::string::npos) << err.error().what;
    }
}

TEST(PortwatchDiag, FilterLayout) {
    EXPECT_EQ(merge_ranges({{6000, 6099}, {5060, 5060}, {6100, 6100}, {6050, 6200}}),
              (std::vector<PortRange>{{5060, 5060}, {6000, 6200}}));
    auto bc = build_port_filter({{5060, 5060}, {6000, 6200}});
    ASSERT_EQ(bc.size(), 2 * 20u);
    auto op = [&](size_t i) { return reinterpret_cast<const inet_diag_bc_op*>(bc.data() + 4 * i); };
    EXPECT_EQ(op(0)->code, INET_DIAG_BC_S_GE);
    EXPECT_EQ(op(1)->no, 5060);
    EXPECT_EQ(op(0)->no, 20);        // next block
    EXPECT_EQ(op(4)->code, INET_DIAG_BC_JMP);
    EXPECT_EQ(op(4)->no, 40 - 16);   // to the end: accept
    EXPECT_EQ(op(5)->no, 20 + 4);    // last block: past the end, reject
}

TEST(PortwatchWhen, IsoAndRelative) {
    const int64_t now = 1'700'000'000'000;
    EXPECT_EQ(*parse_when("1970-01-02", now), 86'400'000);
    EXPECT_EQ(*parse_when("2024-02-29T12:30:15Z", now), 1709209815000);
    EXPECT_EQ(*parse_when("2024-02-29 12:30", now), 1709209800000);
    EXPECT_EQ(*parse_when("1h", now), now - 3'600'000);
    EXPECT_EQ(*parse_when("7d", now), now - 7 * 86'400'000LL);
    for (const char* bad : {"", "h", "-1h", "1y", "2023-02-29", "2024-13-01", "2024-01-01T25:00", "2024-01-01x", "99999999999999w"})
        EXPECT_FALSE(parse_when(bad, now)) << bad;
    EXPECT_EQ(format_time(1709209815000), "2024-02-29T12:30:15Z");
}

TEST(PortwatchStore, OngoingSquatIsOneRowAndJsonHasTheFields) {
    TempDir t;
    auto db = Database::open(t.path + "/pw.db");
    ASSERT_TRUE(db) << db.error().message();
    EventRecord r;
    r.proto = "udp";
    r.addr = "127.0.0.1";
    r.port = 5060;
    r.uid = 51001;
    r.user = "51001";
    r.pids = "1234";
    r.comm = "squat";
    r.inode = 99;
    r.entry = "reserve/udp/5060";
    r.first_seen = r.last_seen = 1000;
    EXPECT_TRUE(*db->record_squat(r));
    EventRecord again = r;
    again.first_seen = again.last_seen = 5000;
    EXPECT_FALSE(*db->record_squat(again));
    EXPECT_EQ(again.first_seen, 1000);
    auto rows = db->query({});
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].last_seen, 5000);
    const std::string json = format_events(*rows, ReportFormat::json);
    for (const char* field : {"\"kind\":\"squat\"", "\"proto\":\"udp\"", "\"addr\":\"127.0.0.1\"", "\"port\":5060", "\"uid\":51001",
                              "\"user\":\"51001\"", "\"pid\":1234", "\"comm\":\"squat\"", "\"first_seen\":\"1970-01-01T00:00:01Z\"",
                              "\"last_seen\":\"1970-01-01T00:00:05Z\"", "\"action\":\"log\""})
        EXPECT_NE(json.find(field), std::string::npos) << field << " in " << json;
    EXPECT_EQ(*db->prune(4000), 0);
    EXPECT_EQ(*db->prune(6000), 1);
}

TEST(PortwatchStore, MigratesVersion1) {
    TempDir t;
    const std::string path = t.path + "/v1.db";
    // The schema as portwatch 1 wrote it, frozen here on purpose.
    const char* v1 =
        "CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('squat', 'refused')),"
        " proto TEXT NOT NULL, addr TEXT NOT NULL, port INTEGER NOT NULL, uid INTEGER NOT NULL,"
        " user TEXT NOT NULL DEFAULT '', pids TEXT NOT NULL DEFAULT '', comm TEXT NOT NULL DEFAULT '',"
        " cmdline TEXT NOT NULL DEFAULT '', entry TEXT NOT NULL DEFAULT '', inode INTEGER NOT NULL DEFAULT 0,"
        " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, action TEXT NOT NULL DEFAULT 'log',"
        " action_result TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX events_key ON events(kind, proto, addr, port, uid, inode);"
        "INSERT INTO events(kind, proto, addr, port, uid, pids, comm, first_seen, last_seen)"
        " VALUES ('refused', 'tcp', '0.0.0.0', 80, 51001, '42', 'nc', 1000, 1000);"
        "PRAGMA user_version=1;";
    make_sqlite(path, v1);
    auto db = Database::open(path, {OpenOptions::Access::read});
    ASSERT_TRUE(db) << db.error().message();
    EXPECT_EQ(*db->schema_version(), kSchemaVersion);
    auto rows = db->query({});
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].comm, "nc");
    EXPECT_EQ((*rows)[0].exe, "");
}

TEST(PortwatchStore, RefusesNewerSchema) {
    TempDir t;
    const std::string path = t.path + "/v9.db";
    make_sqlite(path, "PRAGMA user_version=9");
    auto db = Database::open(path);
    ASSERT_FALSE(db);
    EXPECT_NE(db.error().message().find("schema version 9"), std::string::npos);
}

namespace {

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A record with a few hundred rows, closed cleanly (no -wal left).
void fill_record(const std::string& path) {
    auto db = Database::open(path);
    ASSERT_TRUE(db) << db.error().message();
    for (int i = 0; i < 300; ++i) {
        EventRecord r;
        r.kind = "refused";
        r.proto = "tcp";
        r.addr = "127.0.0.1";
        r.port = 6000;
        r.uid = 51001;
        r.cmdline = std::string(200, 'x');
        r.first_seen = r.last_seen = 1000 + i;
        ASSERT_TRUE(db->record_refused(r));
    }
}

}  // namespace

TEST(PortwatchStore, DamagedFilesAreRefusedAndLeftAsTheyAre) {
    TempDir t;
    const std::string path = t.path + "/pw.db";
    fill_record(path);
    const std::string good = file_bytes(path);
    ASSERT_GT(good.size(), 3 * 4096u);
    std::string overwritten_header = good;
    overwritten_header.replace(0, 16, "garbage garbage!");
    std::string bad_page = good;
    for (size_t i = 2 * 4096; i < 3 * 4096; ++i) bad_page[i] = static_cast<char>(i * 7);
    const std::pair<const char*, std::string> cases[] = {
        {"garbage", std::string(8192, '\x5a')},
        {"overwritten header", overwritten_header},
        {"truncated", good.substr(0, good.size() / 2)},
        {"truncated first page", good.substr(0, 1000)},
        {"a damaged page", bad_page},
    };
    for (const auto& [what, bytes] : cases) {
        write_bytes(path, bytes);
        for (auto access : {OpenOptions::Access::write, OpenOptions::Access::read}) {
            auto db = Database::open(path, {access, true});
            ASSERT_FALSE(db) << what;
            EXPECT_TRUE(record_damaged(db.error())) << what << ": " << db.error().message();
            EXPECT_NE(db.error().what.find("'" + path + "'"), std::string::npos) << db.error().what;
            EXPECT_NE(db.error().what.find("leaves it as it is"), std::string::npos) << db.error().what;
        }
        EXPECT_EQ(file_bytes(path), bytes) << what;
    }
}

TEST(PortwatchStore, AnotherProgramsDatabaseIsNotTouched) {
    TempDir t;
    const std::string path = t.path + "/other.db";
    make_sqlite(path, "CREATE TABLE accounts(name TEXT); INSERT INTO accounts VALUES ('alice');");
    const std::string before = file_bytes(path);
    auto db = Database::open(path);
    ASSERT_FALSE(db);
    EXPECT_TRUE(record_damaged(db.error()));
    EXPECT_NE(db.error().what.find("not a portwatch database"), std::string::npos) << db.error().what;
    EXPECT_EQ(file_bytes(path), before);   // not even switched to WAL
    // An empty file is a new, empty database.
    write_bytes(path, "");
    EXPECT_TRUE(Database::open(path));
}

TEST(PortwatchWatch, WithoutTheRecordASquatIsNewOnceAndKeepsItsFirstSeen) {
    TempDir t;
    Squatter q;
    q.socket.proto = Proto::udp;
    q.socket.addr = *Address::parse("127.0.0.1");
    q.socket.port = 5060;
    q.socket.uid = 51001;
    q.socket.inode = 4242;
    q.user = "51001";
    q.entry = "reserve/udp/5060";
    ScanResult scan;
    scan.squatters = {q};
    WatchSettings settings;
    SquatMemory memory;
    // No record: new once, then known to this process.
    auto first = handle_scan(nullptr, scan, settings, memory);
    ASSERT_EQ(first.squats.size(), 1u);
    EXPECT_TRUE(first.squats[0].is_new);
    EXPECT_FALSE(first.squats[0].recorded);
    EXPECT_FALSE(first.record_error);
    const int64_t first_seen = first.squats[0].record.first_seen;
    auto second = handle_scan(nullptr, scan, settings, memory);
    EXPECT_FALSE(second.squats[0].is_new);
    // The record works again: the row gets the first_seen of the outage, and
    // the squat is still not new (no second alert).
    auto db = Database::open(t.path + "/pw.db");
    ASSERT_TRUE(db) << db.error().message();
    auto third = handle_scan(&*db, scan, settings, memory);
    EXPECT_FALSE(third.squats[0].is_new);
    EXPECT_TRUE(third.squats[0].recorded);
    EXPECT_FALSE(third.record_error);
    auto rows = db->query({});
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].first_seen, first_seen);
    // A squat gone from a pass is forgotten: when it comes back, it is new again.
    ScanResult none;
    handle_scan(nullptr, none, settings, memory);
    EXPECT_TRUE(memory.empty());
    EXPECT_TRUE(handle_scan(nullptr, scan, settings, memory).squats[0].is_new);
}

TEST(PortwatchMetrics, PrometheusText) {
    TempDir t;
    Metrics m{2, 5, 0.0012, 17};
    ASSERT_TRUE(write_metrics(t.path + "/m.prom", m));
    std::ifstream in(t.path + "/m.prom");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(text.find("portwatch_squatters 2\n"), std::string::npos);
    EXPECT_NE(text.find("portwatch_refused_binds_total 5\n"), std::string::npos);
    EXPECT_NE(text.find("portwatch_scan_duration_seconds 0.001200\n"), std::string::npos);
    EXPECT_NE(text.find("portwatch_sockets_scanned 17\n"), std::string::npos);
    EXPECT_NE(text.find("portwatch_record_writable 1\n"), std::string::npos);
    EXPECT_NE(text.find("portwatch_record_errors_total 0\n"), std::string::npos);
    m.record_writable = false;
    m.record_errors_total = 3;
    const std::string outage = format_metrics(m);
    EXPECT_NE(outage.find("portwatch_record_writable 0\n"), std::string::npos) << outage;
    EXPECT_NE(outage.find("portwatch_record_errors_total 3\n"), std::string::npos) << outage;
    EXPECT_FALSE(std::filesystem::exists(t.path + "/m.prom.tmp"));
}

TEST(PortwatchSquatters, ReservationRefusesOthersOnly) {
    Policy p;
    Reservation r;
    r.proto = Proto::udp;
    r.port_min = r.port_max = 5060;
    r.access.owner_uid = 0;
    r.access.has_acl = true;
    r.access.mask_x = true;
    r.access.users.push_back({51000, true});
    r.origin.file = "reserve/udp/5060";
    p.reservations.push_back(r);
    auto sock = [](uint32_t uid, Proto proto, uint16_t port) {
        SocketInfo s;
        s.proto = proto;
        s.addr = *Address::parse("127.0.0.1");
        s.port = port;
        s.uid = uid;
        return s;
    };
    auto creds = [](uint32_t uid) { return Credentials{uid, uid, {}}; };
    auto found = find_squatters(p, {sock(51000, Proto::udp, 5060), sock(51001, Proto::udp, 5060), sock(51001, Proto::tcp, 5060),
                                    sock(51001, Proto::udp, 5061)},
                                creds, HostFacts{});
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].socket.uid, 51001u);
    EXPECT_EQ(found[0].entry, "reserve/udp/5060");
    EXPECT_EQ(reserved_ranges(p), (std::vector<PortRange>{{5060, 5060}}));
}

TEST(PortwatchDiag, SurvivesMutatedReplies) {
    // A quick stand-in for the fuzzer (fuzz/fuzz_sockdiag.cpp) in the normal
    // suite: the parser must never read past the buffer or crash on garbage.
    std::vector<uint8_t> good;
    auto a = diag_msg(AF_INET6, "::1", 5060, 1, 2);
    append_msg(good, SOCK_DIAG_BY_FAMILY, &a, sizeof a);
    append_msg(good, SOCK_DIAG_BY_FAMILY, &a, sizeof a);
    uint32_t seed = 12345;
    auto next = [&] { return seed = seed * 1103515245u + 12345u; };
    for (int i = 0; i < 20000; ++i) {
        std::vector<uint8_t> buf = good;
        for (int flips = 1 + next() % 4; flips > 0; --flips) buf[next() % buf.size()] = static_cast<uint8_t>(next() >> 16);
        buf.resize(next() % (buf.size() + 1));
        auto r = parse_inet_diag_reply(buf, Proto::tcp);
        if (!r) continue;
        for (const auto& s : r->sockets) EXPECT_TRUE(s.family == AF_INET || s.family == AF_INET6);
    }
}
