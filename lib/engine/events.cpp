#include "engine/events.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>

#include "common/fd.hpp"
#include "engine/engine.hpp"

namespace portauth {

Result<RefusalEvent> decode_event(const void* data, size_t size) {
    if (size < sizeof(pa_event)) return logic_error("ring buffer record of " + std::to_string(size) + " bytes, expected " + std::to_string(sizeof(pa_event)));
    pa_event raw{};
    std::memcpy(&raw, data, sizeof raw);
    if (raw.proto != PA_PROTO_TCP && raw.proto != PA_PROTO_UDP) return logic_error("ring buffer record with protocol " + std::to_string(raw.proto));
    if (raw.family != PA_FAMILY_V4 && raw.family != PA_FAMILY_V6) return logic_error("ring buffer record with family " + std::to_string(raw.family));
    RefusalEvent e;
    e.time_ns = raw.time_ns;
    e.pid = raw.pid;
    e.tid = raw.tid;
    e.uid = raw.uid;
    e.gid = raw.gid;
    e.rule = raw.rule;
    e.generation = raw.generation;
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
    reader->map_fd_ = fd.release();
    return reader;
}

EventReader::~EventReader() {
    if (rb_) ring_buffer__free(rb_);
    if (map_fd_ >= 0) ::close(map_fd_);
}

int EventReader::fd() const { return ring_buffer__epoll_fd(rb_); }

Result<int> EventReader::poll(int timeout_ms) {
    int n = ring_buffer__poll(rb_, timeout_ms);
    if (n < 0 && n != -EINTR) return Error{-n, "cannot poll the refusal events"};
    return n < 0 ? 0 : n;
}

std::string EventReader::name_of(uint32_t rule, uint32_t generation) {
    Fd meta(bpf_obj_get(pin_path(pin_dir_, "meta").c_str()));
    Fd names(bpf_obj_get(pin_path(pin_dir_, "rule_names").c_str()));
    pa_meta m{};
    pa_rule_name n{};
    __u32 zero = 0;
    if (!meta || !names || bpf_map_lookup_elem(meta.get(), &zero, &m) != 0 || m.generation != generation ||
        bpf_map_lookup_elem(names.get(), &rule, &n) != 0)
        return {};
    return std::string(n.name, strnlen(n.name, sizeof n.name));
}

int EventReader::on_sample(void* self, void* data, size_t size) {
    auto* reader = static_cast<EventReader*>(self);
    auto event = decode_event(data, size);
    if (!event) return 0;   // a malformed record is dropped; the buffer goes on
    event->entry = reader->name_of(event->rule, event->generation);
    reader->handler_(*event);
    return 0;
}

}  // namespace portauth
