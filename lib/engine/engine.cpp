#include "engine/engine.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>

#include "common/fd.hpp"
#include "engine/features.hpp"
#include "engine/netns.hpp"
#include "engine/system.hpp"
#include "portauth.skel.h"

namespace portauth {

namespace {

struct SkelDeleter {
    void operator()(portauth_bpf* s) const { portauth_bpf__destroy(s); }
};
using Skel = std::unique_ptr<portauth_bpf, SkelDeleter>;

struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

// libbpf talks on stderr by default; we keep what it says and show the end
// of it only when a load fails.
std::string* g_libbpf_log = nullptr;

int capture_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (!g_libbpf_log || level == LIBBPF_DEBUG) return 0;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, args);
    *g_libbpf_log += buf;
    return 0;
}

class LibbpfLog {
public:
    LibbpfLog() : previous_(libbpf_set_print(capture_libbpf)) { g_libbpf_log = &text; }
    ~LibbpfLog() {
        g_libbpf_log = nullptr;
        libbpf_set_print(previous_);
    }
    LibbpfLog(const LibbpfLog&) = delete;
    LibbpfLog& operator=(const LibbpfLog&) = delete;

    // The last meaningful line: what the verifier or libbpf objected to.
    std::string last_line() const {
        size_t end = text.size();
        while (end > 0) {
            while (end > 0 && text[end - 1] == '\n') --end;
            size_t start = text.rfind('\n', end ? end - 1 : 0);
            start = start == std::string::npos ? 0 : start + 1;
            std::string line = text.substr(start, end - start);
            if (line.find("-- END PROG LOAD LOG --") == std::string::npos && !line.starts_with("processed ") &&
                !line.empty())
                return line;
            end = start;
        }
        return {};
    }

    std::string text;

private:
    libbpf_print_fn_t previous_;
};

constexpr const char* kPins[] = {"link_bind4", "link_bind6",   "counters",   "rule_names", "meta",    "events",
                                 "event_stats", "event_keys", "binders",    "sysctl_ports", "gate"};
// One generation's pins. An apply pins them as NAME_new, switches the gate,
// then renames them into place in this order (meta last: while meta_new
// exists, an apply is under way or was interrupted).
constexpr const char* kGenerationPins[] = {"link_bind4", "link_bind6", "counters", "rule_names", "meta"};
constexpr const char* kLinkPins[] = {"link_bind4", "link_bind6"};

Fd open_pin(const std::string& path) { return Fd(bpf_obj_get(path.c_str())); }

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string staged(const std::string& path) { return path + "_new"; }

// Fault injection for the crash tests: PORTAUTH_TEST_CRASH_AT=STEP makes apply
// kill itself with SIGKILL right after STEP, as a power cut or kill -9 would.
void crash_point(const char* step) {
    static const char* const at = ::secure_getenv("PORTAUTH_TEST_CRASH_AT");
    if (at && std::strcmp(at, step) == 0) ::raise(SIGKILL);
}

// Serialises apply/unload of one pin dir (two admins at once).
Result<Fd> lock_pin_dir(const std::string& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("cannot open pin dir '" + dir + "'");
    if (::flock(fd.get(), LOCK_EX) != 0) return sys_error("cannot lock pin dir '" + dir + "'");
    return fd;
}

Result<uint32_t> read_u32_map(int fd, const std::string& what) {
    uint32_t value = 0;
    __u32 zero = 0;
    if (bpf_map_lookup_elem(fd, &zero, &value) != 0) return sys_error("cannot read '" + what + "'");
    return value;
}

Status write_gate(int fd, uint32_t generation, const std::string& what) {
    __u32 zero = 0;
    if (bpf_map_update_elem(fd, &zero, &generation, BPF_ANY) != 0) return sys_error("cannot write '" + what + "'");
    return {};
}

std::optional<pa_meta> read_meta(const std::string& path) {
    Fd fd = open_pin(path);
    pa_meta meta{};
    __u32 zero = 0;
    if (!fd || bpf_map_lookup_elem(fd.get(), &zero, &meta) != 0) return std::nullopt;
    return meta;
}

// Detaches (when a link) and unpins every NAME_new pin.
Status drop_staged(const std::string& dir) {
    for (const char* name : kGenerationPins) {
        const std::string path = staged(pin_path(dir, name));
        if (!exists(path)) continue;
        if (Fd link = open_pin(path); link && std::strncmp(name, "link_", 5) == 0) bpf_link_detach(link.get());
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove pin '" + path + "'");
    }
    return {};
}

// Moves a switched-to generation into place: per family the old link is
// detached and the new one renamed over it, then the maps, meta last. Every
// step can be repeated, so an interrupted commit is finished by the next one.
Status commit_staged(const std::string& dir) {
    for (const char* name : kGenerationPins) {
        const std::string path = pin_path(dir, name), tmp = staged(path);
        if (!exists(tmp)) continue;
        if (std::strncmp(name, "link_", 5) == 0) {
            if (Fd old = open_pin(path)) bpf_link_detach(old.get());
            crash_point(name[9] == '4' ? "old-bind4-detached" : "old-bind6-detached");
        }
        if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_error("cannot rename '" + tmp + "'");
        crash_point((std::string(name) + "-renamed").c_str());
    }
    return {};
}

// An apply killed half-way left NAME_new pins. If it got as far as switching
// the gate to its generation, its policy is the one enforced: finish moving it
// into place. Otherwise the old policy never stopped being enforced: drop the
// staged pins (their programs only ever let binds through).
Status recover_interrupted_apply(const std::string& dir, int gate_fd) {
    const auto staged_meta = read_meta(staged(pin_path(dir, "meta")));
    if (staged_meta && gate_fd >= 0) {
        auto gate = read_u32_map(gate_fd, pin_path(dir, "gate"));
        if (!gate) return gate.error();
        if (*gate == staged_meta->generation) return commit_staged(dir);
    }
    return drop_staged(dir);
}

std::vector<pa_counter> percpu_buffer() {
    const int ncpus = libbpf_num_possible_cpus();
    return std::vector<pa_counter>(ncpus > 0 ? static_cast<size_t>(ncpus) : 1);
}

// Rule `id`'s counters summed over the CPUs; `percpu` is scratch from percpu_buffer().
std::optional<pa_counter> read_counter(int fd, uint32_t id, std::vector<pa_counter>& percpu) {
    if (fd < 0 || bpf_map_lookup_elem(fd, &id, percpu.data()) != 0) return std::nullopt;
    pa_counter sum{};
    for (const auto& c : percpu) {
        sum.allowed += c.allowed;
        sum.denied += c.denied;
    }
    return sum;
}

// Called once the gate has switched (the old programs count no more): adds
// the old generation's counters to the new one's, entry by entry, matched by
// name. byuid lines are named by line number, which an edit can shift, so
// they start from zero.
void carry_counters(const std::string& dir, int new_counters, const std::vector<std::string>& new_names) {
    Fd names = open_pin(pin_path(dir, "rule_names")), counters = open_pin(pin_path(dir, "counters"));
    const auto meta = read_meta(pin_path(dir, "meta"));
    if (!names || !counters || !meta) return;
    std::map<std::string, pa_counter> old;
    auto percpu = percpu_buffer();
    for (uint32_t id = 0; id < meta->rule_count; ++id) {
        pa_rule_name n{};
        const auto counts = read_counter(counters.get(), id, percpu);
        if (bpf_map_lookup_elem(names.get(), &id, &n) != 0 || !counts) continue;
        pa_counter& sum = old[std::string(n.name, strnlen(n.name, sizeof n.name))];
        sum.allowed += counts->allowed;
        sum.denied += counts->denied;
    }
    for (uint32_t id = 0; id < new_names.size(); ++id) {
        const auto it = old.find(new_names[id]);
        if (it == old.end() || new_names[id].starts_with("byuid/")) continue;
        if (bpf_map_lookup_elem(new_counters, &id, percpu.data()) != 0) continue;
        percpu[0].allowed += it->second.allowed;   // a bind counted on CPU 0 this very instant may be lost
        percpu[0].denied += it->second.denied;
        (void)bpf_map_update_elem(new_counters, &id, percpu.data(), BPF_ANY);
    }
}

// The programs of one attach type that run for binds in `cgroup`, in the order they run.
Result<std::vector<uint32_t>> effective_programs(int cgroup_fd, bpf_attach_type type, const std::string& cgroup) {
    std::vector<uint32_t> ids(64);
    struct bpf_prog_query_opts q {};
    q.sz = sizeof q;
    q.query_flags = BPF_F_QUERY_EFFECTIVE;
    q.prog_ids = ids.data();
    q.prog_cnt = static_cast<__u32>(ids.size());
    if (bpf_prog_query_opts(cgroup_fd, type, &q) != 0)
        return sys_error("cannot list the BPF programs of cgroup '" + cgroup + "'");
    ids.resize(q.prog_cnt);
    return ids;
}

template <class K, class V>
Status fill_map(int fd, const std::vector<std::pair<K, V>>& entries, const char* map_name) {
    if (entries.empty()) return {};
    std::vector<K> keys;
    std::vector<V> values;
    keys.reserve(entries.size());
    values.reserve(entries.size());
    for (const auto& [k, v] : entries) {
        keys.push_back(k);
        values.push_back(v);
    }
    __u32 count = static_cast<__u32>(entries.size());
    if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, nullptr) == 0 && count == entries.size())
        return {};
    for (size_t i = 0; i < entries.size(); ++i)
        if (bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY) != 0)
            return sys_error(std::string("cannot fill BPF map ") + map_name);
    return {};
}

uint32_t at_least_one(size_t n) { return n == 0 ? 1 : static_cast<uint32_t>(n); }

// Pins under /sys/fs/bpf when this process's /sys is a fresh one (ip netns
// exec): the host's bpffs, bound here, or an error that says what to run.
Status reach_pins(const std::string& pin_dir) {
    if (pin_dir != "/sys/fs/bpf" && pin_dir.rfind("/sys/fs/bpf/", 0) != 0) return {};
    return reach_host_mounts();
}

struct Loaded {
    Skel skel;
    ProgramFeatures features;   // what the loaded variant uses
};

// The maps every generation shares, pinned by the first apply and reused by
// the next ones: the ring buffer, the rate limit and its counters, and the
// sockets' binders (socket storage dies with its map).
struct KeptMaps {
    Fd events, event_stats, event_keys, binders;
};

constexpr const char* kKeptPins[] = {"events", "event_stats", "event_keys", "binders"};

KeptMaps open_kept_maps(const std::string& dir) {
    return KeptMaps{open_pin(pin_path(dir, "events")), open_pin(pin_path(dir, "event_stats")),
                    open_pin(pin_path(dir, "event_keys")), open_pin(pin_path(dir, "binders"))};
}

Result<Loaded> load_program(const KernelImage& img, uint64_t netns_cookie, uint32_t generation, const KeptMaps& kept,
                            int gate_fd, ProgramFeatures features) {
    LibbpfLog log;
    std::string first_failure;
    // The variant the probes chose first; then, should the kernel still
    // refuse it, without each optional feature whose helper a probe can find
    // but a bind program may not use as we do (socket storage, IPV6_V6ONLY,
    // bpf_set_retval), most useful last to go. bpf_loop is the probe's call.
    constexpr uint8_t kTrial[] = {PA_FEATURE_V6ONLY, PA_FEATURE_SK_STORAGE, PA_FEATURE_SET_RETVAL};
    std::vector<uint8_t> attempts;
    for (unsigned drop = 0; drop < (1u << std::size(kTrial)); ++drop) {
        uint8_t bits = features.bits;
        for (size_t i = 0; i < std::size(kTrial); ++i)
            if (drop & (1u << i)) bits = static_cast<uint8_t>(bits & ~kTrial[i]);
        if (std::find(attempts.begin(), attempts.end(), bits) == attempts.end()) attempts.push_back(bits);
    }
    for (const uint8_t bits : attempts) {
        const ProgramFeatures f{bits};
        const bool use_binders = f.has(PA_FEATURE_SK_STORAGE);
        Skel skel(portauth_bpf__open());
        if (!skel) return sys_error("cannot open the BPF object");
        skel->rodata->pa_netns_cookie = netns_cookie;
        skel->rodata->pa_root_exempt = img.root_exempt;
        skel->rodata->pa_use_set_retval = f.has(PA_FEATURE_SET_RETVAL);
        skel->rodata->pa_generation = generation;
        skel->rodata->pa_use_sk_storage = use_binders;
        skel->rodata->pa_use_v6only = f.has(PA_FEATURE_V6ONLY);
        skel->rodata->pa_use_bpf_loop = f.has(PA_FEATURE_BPF_LOOP);
        auto* m = &skel->maps;
        bpf_map__set_max_entries(m->pa_byaddr, at_least_one(img.byaddr.size()));
        bpf_map__set_max_entries(m->pa_byuid, at_least_one(img.byuid.size()));
        bpf_map__set_max_entries(m->pa_resv, at_least_one(img.resv.size()));
        bpf_map__set_max_entries(m->pa_rules, at_least_one(img.rules.size()));
        bpf_map__set_max_entries(m->pa_acl, at_least_one(img.acl.size()));
        bpf_map__set_max_entries(m->pa_counters, at_least_one(img.rules.size()));
        bpf_map__set_max_entries(m->pa_rule_names, at_least_one(img.rules.size()));
        const std::pair<const Fd*, bpf_map*> reused[] = {{&kept.events, m->pa_events},
                                                         {&kept.event_stats, m->pa_event_stats},
                                                         {&kept.event_keys, m->pa_event_keys},
                                                         {&kept.binders, m->pa_binders}};
        for (const auto& [fd, map] : reused)
            if (*fd && (map != m->pa_binders || use_binders) && bpf_map__reuse_fd(map, fd->get()) != 0)
                return sys_error(std::string("cannot reuse the pinned map ") + bpf_map__name(map));
        // Without socket storage the map is not made; libbpf poisons the
        // (dead, pa_use_sk_storage = 0) instructions that name it.
        if (!use_binders) bpf_map__set_autocreate(m->pa_binders, false);
        if (bpf_map__reuse_fd(m->pa_gate, gate_fd) != 0) return sys_error("cannot reuse the pinned gate map");
        if (portauth_bpf__load(skel.get()) == 0) return Loaded{std::move(skel), f};
        if (first_failure.empty()) first_failure = log.last_line();
    }
    return logic_error("the kernel refused the BPF program: " +
                       (first_failure.empty() ? std::string("no reason given") : first_failure));
}

Status fill_policy_maps(portauth_bpf* skel, const KernelImage& img) {
    auto* m = &skel->maps;
    PA_TRY(fill_map(bpf_map__fd(m->pa_ports), img.ports, "pa_ports"));
    PA_TRY(fill_map(bpf_map__fd(m->pa_byaddr), img.byaddr, "pa_byaddr"));
    PA_TRY(fill_map(bpf_map__fd(m->pa_byuid), img.byuid, "pa_byuid"));
    PA_TRY(fill_map(bpf_map__fd(m->pa_resv), img.resv, "pa_resv"));
    PA_TRY(fill_map(bpf_map__fd(m->pa_acl), img.acl, "pa_acl"));
    std::vector<std::pair<uint32_t, pa_rule>> rules;
    std::vector<std::pair<uint32_t, pa_rule_name>> names;
    for (uint32_t i = 0; i < img.rules.size(); ++i) {
        rules.push_back({i, img.rules[i]});
        pa_rule_name n{};
        std::strncpy(n.name, img.rule_names[i].c_str(), sizeof n.name - 1);
        names.push_back({i, n});
    }
    PA_TRY(fill_map(bpf_map__fd(m->pa_rules), rules, "pa_rules"));
    PA_TRY(fill_map(bpf_map__fd(m->pa_rule_names), names, "pa_rule_names"));
    return {};
}

struct LinkInfo {
    uint32_t prog_id = 0;
    uint64_t cgroup_id = 0;
};

Result<LinkInfo> link_info(int fd, const std::string& what) {
    bpf_link_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return sys_error("cannot read link info of '" + what + "'");
    return LinkInfo{info.prog_id, info.cgroup.cgroup_id};
}

// The bitmap of ports this engine added to ip_local_reserved_ports.
constexpr size_t kBitmapBytes = 65536 / 8;

std::set<uint16_t> read_sysctl_pin(const std::string& pin_dir) {
    std::set<uint16_t> ports;
    Fd fd = open_pin(pin_path(pin_dir, "sysctl_ports"));
    if (!fd) return ports;
    std::vector<uint8_t> bits(kBitmapBytes);
    __u32 zero = 0;
    if (bpf_map_lookup_elem(fd.get(), &zero, bits.data()) != 0) return ports;
    for (uint32_t p = 0; p < 65536; ++p)
        if (bits[p / 8] & (1u << (p % 8))) ports.insert(static_cast<uint16_t>(p));
    return ports;
}

Status write_sysctl_pin(const std::string& pin_dir, const std::set<uint16_t>& ports) {
    const std::string path = pin_path(pin_dir, "sysctl_ports");
    Fd fd = open_pin(path);
    if (!fd) {
        fd.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "pa_sysctl", 4, kBitmapBytes, 1, nullptr));
        if (!fd) return sys_error("cannot create the sysctl bookkeeping map");
        if (bpf_obj_pin(fd.get(), path.c_str()) != 0) return sys_error("cannot pin '" + path + "'");
    }
    std::vector<uint8_t> bits(kBitmapBytes);
    for (uint16_t p : ports) bits[p / 8] |= static_cast<uint8_t>(1u << (p % 8));
    __u32 zero = 0;
    if (bpf_map_update_elem(fd.get(), &zero, bits.data(), BPF_ANY) != 0) return sys_error("cannot update '" + path + "'");
    return {};
}

// Merges every reserved port into ip_local_reserved_ports, leaving alone
// what the admin put there. Every one, not only those inside
// ip_local_port_range now: the range can be widened later (a sysctl.d file,
// a package) and the kernel accepts any port in the list.
Result<std::set<uint16_t>> sync_reserved_ports(const std::string& pin_dir, const std::set<uint16_t>& reserved) {
    auto current = read_reserved_ports();
    if (!current) return current.error();
    const std::set<uint16_t> ours_before = read_sysctl_pin(pin_dir);
    std::set<uint16_t> admins;
    for (uint16_t p : *current)
        if (!ours_before.count(p)) admins.insert(p);
    std::set<uint16_t> ours;
    for (uint16_t p : reserved)
        if (!admins.count(p)) ours.insert(p);
    std::set<uint16_t> wanted = admins;
    wanted.insert(ours.begin(), ours.end());
    if (wanted != *current) PA_TRY(write_reserved_ports(wanted));
    PA_TRY(write_sysctl_pin(pin_dir, ours));
    return ours;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::string pin_path(const std::string& pin_dir, const char* name) { return pin_dir + "/" + name; }

std::string default_pin_dir() {
    const char* env = ::secure_getenv("PORTAUTH_PIN_DIR");
    if (env && *env) return env;
    // A network namespace other than the host's gets pins of its own, so that
    // an apply there (ip netns exec, nsenter --net) never replaces the host's
    // policy. When the host's cannot be read (not root), the host's pins.
    const auto host = host_netns_inode();
    const auto mine = current_netns_inode();
    if (host && mine && *host != *mine) return std::string(kDefaultPinDir) + "-net" + std::to_string(*mine);
    return kDefaultPinDir;
}


namespace {

// The gate: which generation enforces. Created (holding 0: nobody) on the first apply.
Result<Fd> open_gate(const std::string& dir) {
    const std::string gate_pin = pin_path(dir, "gate");
    Fd gate = open_pin(gate_pin);
    PA_TRY(recover_interrupted_apply(dir, gate.get()));
    if (gate) return gate;
    gate.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "pa_gate", 4, 4, 1, nullptr));
    if (!gate) return sys_error("cannot create the gate map");
    if (bpf_obj_pin(gate.get(), gate_pin.c_str()) != 0) return sys_error("cannot pin '" + gate_pin + "'");
    return gate;
}

// One engine governs one network namespace: an apply from another one
// (ip netns exec, nsenter --net with this pin dir) must not take the policy
// away from the namespace it governs.
Status check_same_netns(const std::optional<pa_meta>& old_meta, uint32_t gate_now, uint64_t cookie, const std::string& dir) {
    if (!old_meta || old_meta->generation != gate_now || !old_meta->netns_cookie || old_meta->netns_cookie == cookie) return {};
    auto ns = [](uint64_t ino) {
        if (!ino) return std::string("another network namespace");
        const auto name = netns_name(ino);
        return "net:[" + std::to_string(ino) + "]" + (name ? " ('" + *name + "')" : "");
    };
    return logic_error("the policy pinned at " + dir + " governs " + ns(old_meta->netns_inode) + ", not this process's " +
                       ns(current_netns_inode().value_or(0)) +
                       "; apply there, unload it first, or give this namespace pins of its own (--pin-dir)");
}

// What status shows of this generation: pa_meta.
Status write_meta(portauth_bpf* skel, const KernelImage& img, const EngineTarget& target, ProgramFeatures features,
                  uint64_t cookie, uint32_t generation) {
    pa_meta meta{};
    meta.applied_at = static_cast<uint64_t>(std::time(nullptr));
    meta.netns_cookie = cookie;
    meta.netns_inode = current_netns_inode().value_or(0);
    meta.rule_count = static_cast<uint32_t>(img.rules.size());
    meta.generation = generation;
    meta.root_exempt = img.root_exempt;
    meta.errno_is_eacces = features.has(PA_FEATURE_SET_RETVAL);
    meta.features = static_cast<__u8>(features.bits | PA_FEATURES_RECORDED);
    std::strncpy(meta.policy_dir, target.policy_dir.c_str(), sizeof meta.policy_dir - 1);
    std::strncpy(meta.cgroup, target.cgroup.c_str(), sizeof meta.cgroup - 1);
    __u32 zero = 0;
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.pa_meta), &zero, &meta, BPF_ANY) != 0)
        return sys_error("cannot write BPF map pa_meta");
    return {};
}

// The kept maps, pinned by the first apply (or by the first that could make them).
Status pin_kept_maps(const std::string& dir, const KeptMaps& kept, portauth_bpf* skel, ProgramFeatures features) {
    const std::pair<const Fd*, bpf_map*> kept_maps[] = {{&kept.events, skel->maps.pa_events},
                                                        {&kept.event_stats, skel->maps.pa_event_stats},
                                                        {&kept.event_keys, skel->maps.pa_event_keys},
                                                        {&kept.binders, skel->maps.pa_binders}};
    for (size_t i = 0; i < std::size(kept_maps); ++i) {
        const auto& [fd, map] = kept_maps[i];
        if (*fd || (map == skel->maps.pa_binders && !features.has(PA_FEATURE_SK_STORAGE))) continue;
        const std::string path = pin_path(dir, kKeptPins[i]);
        if (bpf_obj_pin(bpf_map__fd(map), path.c_str()) != 0) return sys_error("cannot pin '" + path + "'");
    }
    return {};
}

// Stage, maps: this generation's, under their staged names (meta first: it
// marks an apply under way).
Status stage_generation_maps(const std::string& dir, portauth_bpf* skel) {
    const std::pair<const char*, bpf_map*> gen_maps[] = {
        {"meta", skel->maps.pa_meta}, {"counters", skel->maps.pa_counters}, {"rule_names", skel->maps.pa_rule_names}};
    for (const auto& [name, map] : gen_maps) {
        const std::string tmp = staged(pin_path(dir, name));
        if (bpf_obj_pin(bpf_map__fd(map), tmp.c_str()) != 0) return sys_error("cannot pin '" + tmp + "'");
    }
    return {};
}

// Stage, programs: attached next to the old ones, pinned under their staged
// names. The switch is atomic only if, in one bind, the old program runs
// before the new one; the kernel appends, and we check rather than trust.
Status stage_programs(const std::string& dir, portauth_bpf* skel, const Fd& cg, const std::string& cgroup) {
    const struct {
        const char* pin;
        bpf_program* prog;
        bpf_attach_type type;
    } families[] = {{"link_bind4", skel->progs.portauth_bind4, BPF_CGROUP_INET4_BIND},
                    {"link_bind6", skel->progs.portauth_bind6, BPF_CGROUP_INET6_BIND}};
    for (const auto& f : families) {
        Link link(bpf_program__attach_cgroup(f.prog, cg.get()));
        if (!link) return sys_error("cannot attach " + std::string(bpf_program__name(f.prog)) + " to cgroup '" + cgroup + "'");
        const std::string tmp = staged(pin_path(dir, f.pin));
        if (bpf_link__pin(link.get(), tmp.c_str()) != 0) return sys_error("cannot pin '" + tmp + "'");
        bpf_link__disconnect(link.get());
        const Fd old = open_pin(pin_path(dir, f.pin));
        auto old_info = old ? link_info(old.get(), f.pin) : Result<LinkInfo>(LinkInfo{});
        if (!old_info) return old_info.error();
        auto order = effective_programs(cg.get(), f.type, cgroup);
        if (!order) return order.error();
        bpf_prog_info prog_info{};
        __u32 info_len = sizeof prog_info;
        if (bpf_obj_get_info_by_fd(bpf_program__fd(f.prog), &prog_info, &info_len) != 0)
            return sys_error("cannot read the id of the new " + std::string(f.pin) + " program");
        const uint32_t new_id = prog_info.id;
        const auto pos_new = std::find(order->begin(), order->end(), new_id);
        const auto pos_old = std::find(order->begin(), order->end(), old_info->prog_id);
        if (pos_new == order->end()) return logic_error("the new " + std::string(f.pin) + " program is not attached to cgroup '" + cgroup + "'");
        if (old_info->prog_id != 0 && pos_old != order->end() && pos_old > pos_new)
            return logic_error("the kernel runs the new " + std::string(f.pin) +
                               " program before the old one; cannot switch policies atomically (old policy kept)");
    }
    return {};
}

}  // namespace

Result<ApplyReport> engine_apply(const KernelImage& img, const EngineTarget& target) {
    const auto t0 = std::chrono::steady_clock::now();
    ApplyReport report;
    report.cgroup = target.cgroup;
    report.rules = static_cast<uint32_t>(img.rules.size());
    if (target.policy_dir.size() >= sizeof(pa_meta{}.policy_dir) || target.cgroup.size() >= sizeof(pa_meta{}.cgroup))
        return logic_error("policy dir or cgroup path longer than 255 bytes");
    PA_TRY(reach_pins(target.pin_dir));
    auto features = probe_program_features();
    if (!features) return features.error();
    auto mounted = ensure_bpffs_dir(target.pin_dir);
    if (!mounted) return mounted.error();
    // Which mount unload takes down: this apply's, or the one the first apply made.
    std::string mounted_bpffs = *mounted;
    if (mounted_bpffs.empty())
        if (auto previous = read_state(target.pin_dir)) mounted_bpffs = previous->mounted_bpffs;
    auto lock = lock_pin_dir(target.pin_dir);
    if (!lock) return lock.error();
    const std::string dir = target.pin_dir;

    Fd cg(::open(target.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg) return sys_error("cannot open cgroup '" + target.cgroup + "'");
    auto cookie = current_netns_cookie();
    if (!cookie) return cookie.error();

    const std::string gate_pin = pin_path(dir, "gate");
    auto gate = open_gate(dir);
    if (!gate) return gate.error();
    auto gate_now = read_u32_map(gate->get(), gate_pin);
    if (!gate_now) return gate_now.error();
    const auto old_meta = read_meta(pin_path(dir, "meta"));
    PA_TRY(check_same_netns(old_meta, *gate_now, *cookie, dir));
    const uint32_t generation = std::max(*gate_now, old_meta ? old_meta->generation : 0u) + 1;

    // Load and fill this generation's program and maps; nothing enforces them yet.
    const KeptMaps kept = open_kept_maps(dir);
    auto loaded = load_program(img, *cookie, generation, kept, gate->get(), *features);
    if (!loaded) return loaded.error();
    report.eacces = loaded->features.has(PA_FEATURE_SET_RETVAL);
    report.features = loaded->features.bits;
    report.load_ms = ms_since(t0);
    portauth_bpf* skel = loaded->skel.get();
    PA_TRY(fill_policy_maps(skel, img));
    PA_TRY(write_meta(skel, img, target, loaded->features, *cookie, generation));
    PA_TRY(pin_kept_maps(dir, kept, skel, loaded->features));

    // Stage: the new programs run after the old ones and let every bind
    // through until the gate names them. Anything failing from here on drops
    // what was staged.
    struct Unstage {
        const std::string& dir;
        bool armed = true;
        ~Unstage() {
            if (armed) (void)drop_staged(dir);
        }
    } unstage{dir};
    PA_TRY(stage_generation_maps(dir, skel));
    crash_point("maps-staged");
    PA_TRY(stage_programs(dir, skel, cg, target.cgroup));
    crash_point("links-staged");

    // The switch: one map update, both families.
    PA_TRY(write_gate(gate->get(), generation, gate_pin));
    unstage.armed = false;
    report.replaced = old_meta.has_value();
    crash_point("switched");
    carry_counters(dir, bpf_map__fd(skel->maps.pa_counters), img.rule_names);
    if (Status s = commit_staged(dir); !s) report.after_swap = s.error();   // the next apply finishes it

    auto added = sync_reserved_ports(dir, img.reserved_ports);
    if (added) report.sysctl_added = *added;
    else report.after_swap = added.error();
    EnforcementState state{dir, target.cgroup, target.policy_dir, *cookie, generation, target.tree_hash, target.fallback, mounted_bpffs};
    if (Status s = write_state(state); !s && !report.after_swap) report.after_swap = s.error();
    report.total_ms = ms_since(t0);
    return report;
}

namespace {

void describe(EngineStatus& st, const pa_meta& meta) {
    st.cgroup = meta.cgroup;
    st.policy_dir = meta.policy_dir;
    st.applied_at = meta.applied_at;
    st.netns_cookie = meta.netns_cookie;
    st.netns_inode = meta.netns_inode;
    st.rule_count = meta.rule_count;
    st.generation = meta.generation;
    st.root_exempt = meta.root_exempt;
    st.eacces = meta.errno_is_eacces;
    st.features_known = (meta.features & PA_FEATURES_RECORDED) != 0;
    st.features = static_cast<uint8_t>(meta.features & ~PA_FEATURES_RECORDED);
}

// A pin of the generation being described: NAME_new while it is staged, else NAME.
Fd open_generation_pin(const std::string& pin_dir, const char* name, bool prefer_staged) {
    if (prefer_staged)
        if (Fd fd = open_pin(staged(pin_path(pin_dir, name)))) return fd;
    return open_pin(pin_path(pin_dir, name));
}

void read_rules(EngineStatus& st, const std::string& pin_dir, bool prefer_staged) {
    Fd names = open_generation_pin(pin_dir, "rule_names", prefer_staged);
    Fd counters = open_generation_pin(pin_dir, "counters", prefer_staged);
    auto percpu = percpu_buffer();
    for (uint32_t id = 0; id < st.rule_count; ++id) {
        RuleStatus r;
        r.id = id;
        pa_rule_name n{};
        if (names && bpf_map_lookup_elem(names.get(), &id, &n) == 0) r.name.assign(n.name, strnlen(n.name, sizeof n.name));
        if (const auto counts = read_counter(counters.get(), id, percpu)) {
            r.allowed = counts->allowed;
            r.denied = counts->denied;
        }
        st.rules.push_back(std::move(r));
    }
}

}  // namespace

namespace {

// What apply recorded beside the pins (engine/system.hpp), when it describes this generation.
void read_recorded_state(EngineStatus& st, const std::string& pin_dir) {
    if (auto state = read_state(pin_dir); state && state->generation == st.generation) {
        st.tree_hash = state->tree_hash;
        st.fallback = state->fallback;
    }
}

}  // namespace

Result<EngineStatus> engine_status(const std::string& pin_dir) {
    EngineStatus st;
    PA_TRY(reach_pins(pin_dir));
    Fd l4 = open_pin(pin_path(pin_dir, "link_bind4"));
    if (!l4 && (errno == EPERM || errno == EACCES))
        return sys_error("cannot read the pins at '" + pin_dir + "' (reading BPF objects needs root)");
    Fd l6 = open_pin(pin_path(pin_dir, "link_bind6"));

    // Which generation the gate lets enforce, and whether an apply was killed
    // half-way (its pins are still staged as NAME_new).
    std::optional<uint32_t> gate_gen;
    if (Fd gate = open_pin(pin_path(pin_dir, "gate")))
        if (auto g = read_u32_map(gate.get(), pin_path(pin_dir, "gate"))) gate_gen = *g;
    if (const auto staged_meta = read_meta(staged(pin_path(pin_dir, "meta")))) {
        const bool switched = gate_gen == staged_meta->generation;
        st.problem = "an apply of generation " + std::to_string(staged_meta->generation) + " was interrupted " +
                     (switched ? "after it took effect" : "before it took effect") +
                     "; run 'portauth apply' to finish it, or 'portauth unload'";
        if (switched) {
            // Its programs enforce, pinned as link_bind*_new or already renamed.
            describe(st, *staged_meta);
            st.sysctl_ports = read_sysctl_pin(pin_dir);
            for (auto [name, id] : {std::pair{"link_bind4", &st.prog_id_bind4}, std::pair{"link_bind6", &st.prog_id_bind6}})
                if (Fd link = open_generation_pin(pin_dir, name, true))
                    if (auto info = link_info(link.get(), name)) *id = info->prog_id;
            read_rules(st, pin_dir, true);
            st.active = true;
            read_recorded_state(st, pin_dir);
            return st;
        }
        // Not switched: what is pinned under the usual names is what is enforced.
    }
    if (!l4 || !l6) {
        if (st.problem.empty()) st.problem = "no policy is loaded (nothing pinned at " + pin_dir + ")";
        return st;
    }
    auto i4 = link_info(l4.get(), "link_bind4");
    if (!i4) return i4.error();
    auto i6 = link_info(l6.get(), "link_bind6");
    if (!i6) return i6.error();
    st.prog_id_bind4 = i4->prog_id;
    st.prog_id_bind6 = i6->prog_id;

    const auto meta = read_meta(pin_path(pin_dir, "meta"));
    if (!meta) {
        st.problem = "links are pinned at " + pin_dir + " but the meta map is missing; run portauth apply or unload";
        return st;
    }
    describe(st, *meta);
    st.sysctl_ports = read_sysctl_pin(pin_dir);

    auto cg_id = cgroup_id(st.cgroup);
    if (i4->cgroup_id == 0 || i6->cgroup_id == 0 || !cg_id || *cg_id != i4->cgroup_id || *cg_id != i6->cgroup_id) {
        st.problem = "the links are pinned but no longer attached to cgroup " + st.cgroup + " (was it removed?)";
        return st;
    }
    if (gate_gen && *gate_gen != meta->generation && st.problem.empty())
        st.problem = "the pinned policy is generation " + std::to_string(meta->generation) + " but the gate lets generation " +
                     std::to_string(*gate_gen) + " enforce; run 'portauth apply'";
    read_rules(st, pin_dir, false);
    st.active = true;
    read_recorded_state(st, pin_dir);
    // Someone may have rewritten the sysctl since: autobind could then hand out a reserved port.
    if (auto now = read_reserved_ports(); now && st.problem.empty()) {
        std::set<uint16_t> missing;
        for (uint16_t p : st.sysctl_ports)
            if (!now->count(p)) missing.insert(p);
        if (!missing.empty())
            st.problem = "ip_local_reserved_ports no longer holds the reserved ports " + format_port_set(missing) +
                         " (someone rewrote it): automatic port selection may hand them out; run 'portauth apply' to put them back";
    }
    return st;
}

Status engine_unload(const std::string& pin_dir) {
    PA_TRY(reach_pins(pin_dir));
    struct stat pst {};
    if (::lstat(pin_dir.c_str(), &pst) != 0) {
        if (errno == ENOENT) return {};
        return sys_error("cannot reach the pins at '" + pin_dir + "'" + (errno == EACCES ? " (unloading the policy needs root)" : ""));
    }
    auto lock = lock_pin_dir(pin_dir);
    if (!lock) return lock.error();
    PA_TRY(drop_staged(pin_dir));   // also what a killed apply left behind
    for (const char* name : kLinkPins) {
        const std::string path = pin_path(pin_dir, name);
        if (Fd link = open_pin(path)) bpf_link_detach(link.get());
    }
    // Give back the ports we added to ip_local_reserved_ports.
    const std::set<uint16_t> ours = read_sysctl_pin(pin_dir);
    if (!ours.empty()) {
        auto current = read_reserved_ports();
        if (!current) return current.error();
        std::set<uint16_t> left;
        for (uint16_t p : *current)
            if (!ours.count(p)) left.insert(p);
        if (left != *current) PA_TRY(write_reserved_ports(left));
    }
    auto state = read_state(pin_dir);
    const std::string mounted_bpffs = state ? state->mounted_bpffs : "";
    remove_state(pin_dir);
    for (const char* name : kPins) {
        const std::string path = pin_path(pin_dir, name);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove pin '" + path + "'");
    }
    ::rmdir(pin_dir.c_str());   // when empty; a bpffs mount point itself stays (EBUSY)
    // The bpffs apply mounted (on the pin dir, or on /sys/fs/bpf), once nothing is left on it.
    if (!mounted_bpffs.empty()) {
        lock->reset();   // the lock is an fd on that mount
        PA_TRY(unmount_bpffs_if_empty(mounted_bpffs));
        if (mounted_bpffs == pin_dir) ::rmdir(pin_dir.c_str());   // the directory apply created for the mount
    }
    return {};
}

}  // namespace portauth
