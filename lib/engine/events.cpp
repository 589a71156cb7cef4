#include "engine/events.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <vector>

#include "engine/engine.hpp"

namespace portauth {

namespace {

// What on_sample returns when consume()'s budget is spent. libbpf 1.1's
// ringbuf_process_ring() stores the consumer position past the sample before
// it returns a negative callback value, so the sample is not seen again.
constexpr int kBudgetSpent = -ECANCELED;

std::optional<pa_meta> read_meta(int fd) {
    pa_meta m{};
    __u32 zero = 0;
    if (fd < 0 || bpf_map_lookup_elem(fd, &zero, &m) != 0) return std::nullopt;
    return m;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

Result<RefusalEvent> decode_event(const void* data, size_t size) {
    if (size < sizeof(pa_event)) return logic_error("ring buffer record of " + std::to_string(size) + " bytes, expected " + std::to_string(sizeof(pa_event)));
    pa_event raw{};
    std::memcpy(&raw, data, sizeof raw);
    if (raw.kind != PA_EVENT_RESERVATION && raw.kind != PA_EVENT_GRANT_MISS) return logic_error("ring buffer record of kind " + std::to_string(raw.kind));
    if (raw.proto != PA_PROTO_TCP && raw.proto != PA_PROTO_UDP) return logic_error("ring buffer record with protocol " + std::to_string(raw.proto));
    if (raw.family != PA_FAMILY_V4 && raw.family != PA_FAMILY_V6) return logic_error("ring buffer record with family " + std::to_string(raw.family));
    if (raw.suppressed == 0 && raw.window_start_ns != 0) return logic_error("ring buffer record with a window start but nothing suppressed");
    RefusalEvent e;
    e.kind = raw.kind == PA_EVENT_RESERVATION ? RefusalKind::reservation : RefusalKind::grant_miss;
    e.time_ns = raw.time_ns;
    e.pid = raw.pid;
    e.tid = raw.tid;
    e.uid = raw.uid;
    e.gid = raw.gid;
    e.rule = raw.rule;
    e.generation = raw.generation;
    e.suppressed = raw.suppressed;
    e.window_start_ns = raw.window_start_ns;
    e.proto = static_cast<Proto>(raw.proto);
    e.port = raw.port;
    e.addr.family = raw.family == PA_FAMILY_V4 ? AF_INET : AF_INET6;
    std::memcpy(e.addr.bytes.data(), raw.addr, 16);
    e.comm.assign(raw.comm, strnlen(raw.comm, sizeof raw.comm));
    return e;
}

Result<std::unique_ptr<EventReader>> EventReader::open(const std::string& pin_dir, Handler handler) {
    const std::string path = pin_path(pin_dir, "events");
    Fd fd(bpf_obj_get(path.c_str()));
    if (!fd) return sys_error("cannot open the refusal events at '" + path + "' (is a policy applied?)");
    std::unique_ptr<EventReader> reader(new EventReader(pin_dir, std::move(handler)));
    reader->rb_ = ring_buffer__new(fd.get(), &EventReader::on_sample, reader.get(), nullptr);
    if (!reader->rb_) return sys_error("cannot read the ring buffer '" + path + "'");
    reader->map_fd_ = std::move(fd);
    // Absent with a policy applied by an older portauth: stats() says so.
    reader->stats_fd_ = Fd(bpf_obj_get(pin_path(pin_dir, "event_stats").c_str()));
    return reader;
}

EventReader::~EventReader() {
    if (rb_) ring_buffer__free(rb_);
}

int EventReader::fd() const { return ring_buffer__epoll_fd(rb_); }

Result<int> EventReader::poll(int timeout_ms) {
    budget_left_ = INT_MAX;
    handed_ = 0;
    int n = ring_buffer__poll(rb_, timeout_ms);
    if (n < 0 && n != -EINTR) return Error{-n, "cannot poll the refusal events"};
    return handed_;
}

Result<int> EventReader::consume(int budget) {
    if (budget <= 0) return 0;
    budget_left_ = budget;
    handed_ = 0;
    int n = ring_buffer__consume(rb_);
    if (n < 0 && n != kBudgetSpent && n != -EINTR) return Error{-n, "cannot read the refusal events"};
    return handed_;
}

Result<EventStats> EventReader::stats() const {
    const std::string path = pin_path(pin_dir_, "event_stats");
    if (!stats_fd_) return logic_error("no refusal counters at '" + path + "' (applied by an older portauth?)");
    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) return Error{-ncpus, "cannot count the possible CPUs"};
    std::vector<pa_event_stats> percpu(static_cast<size_t>(ncpus));
    __u32 zero = 0;
    if (bpf_map_lookup_elem(stats_fd_.get(), &zero, percpu.data()) != 0) return sys_error("cannot read '" + path + "'");
    EventStats sum;
    for (const auto& s : percpu) {
        sum.delivered += s.delivered;
        sum.suppressed += s.suppressed;
        sum.dropped += s.dropped;
    }
    return sum;
}

// Opens the rule names of `generation` if it is the one pinned now. An apply
// pins meta_new first and renames rule_names before meta, so the names map
// opened between two reads of meta that agree, with no apply staged around
// them, is that generation's.
bool EventReader::load_generation(uint32_t generation) {
    const std::string meta_path = pin_path(pin_dir_, "meta");
    const std::string staged_meta = meta_path + "_new";
    if (exists(staged_meta)) return false;
    Fd meta(bpf_obj_get(meta_path.c_str()));
    const auto before = read_meta(meta.get());
    if (!before || before->generation != generation) return false;
    Fd names(bpf_obj_get(pin_path(pin_dir_, "rule_names").c_str()));
    Fd meta_again(bpf_obj_get(meta_path.c_str()));
    const auto after = read_meta(meta_again.get());
    if (!names || !after || after->generation != generation || exists(staged_meta)) return false;
    names_generation_ = generation;
    names_fd_ = std::move(names);
    names_.clear();
    return true;
}

std::string EventReader::name_of(uint32_t rule, uint32_t generation) {
    if (!names_fd_ || generation != names_generation_) {
        // An older generation's names are gone; a newer one is looked for once per event
        // until it is pinned (an apply is under way only briefly).
        if (names_fd_ && generation < names_generation_) return {};
        if (!load_generation(generation)) return {};
    }
    if (const auto it = names_.find(rule); it != names_.end()) return it->second;
    pa_rule_name n{};
    if (bpf_map_lookup_elem(names_fd_.get(), &rule, &n) != 0) return {};   // not a rule id of this generation
    return names_.emplace(rule, std::string(n.name, strnlen(n.name, sizeof n.name))).first->second;
}

int EventReader::on_sample(void* self, void* data, size_t size) {
    auto* reader = static_cast<EventReader*>(self);
    --reader->budget_left_;
    auto event = decode_event(data, size);
    if (event) {   // a malformed record is dropped; the buffer goes on
        event->entry = reader->name_of(event->rule, event->generation);
        ++reader->handed_;
        reader->handler_(*event);
    }
    return reader->budget_left_ > 0 ? 0 : kBudgetSpent;
}

}  // namespace portauth
