#include "engine/engine.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <memory>

#include "common/fd.hpp"
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
            if (line.find("-- END PROG LOAD LOG --") == std::string::npos && line.find("processed ") != 0 &&
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

constexpr const char* kPins[] = {"link_bind4", "link_bind6", "counters", "rule_names", "meta", "events", "sysctl_ports"};

Fd open_pin(const std::string& path) { return Fd(bpf_obj_get(path.c_str())); }

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// Serialises apply/unload of one pin dir (two admins at once).
Result<Fd> lock_pin_dir(const std::string& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("cannot open pin dir '" + dir + "'");
    if (::flock(fd.get(), LOCK_EX) != 0) return sys_error("cannot lock pin dir '" + dir + "'");
    return fd;
}

// Left behind by an apply that was killed before it finished.
void remove_stale_pins(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.size() > 4 && name.compare(name.size() - 4, 4, "_new") == 0) ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
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

struct Loaded {
    Skel skel;
    bool eacces = true;
};

Result<Loaded> load_program(const KernelImage& img, uint64_t netns_cookie, uint32_t generation, int events_fd) {
    LibbpfLog log;
    std::string first_failure;
    for (bool use_retval : {true, false}) {
        Skel skel(portauth_bpf__open());
        if (!skel) return sys_error("cannot open the BPF object");
        skel->rodata->pa_netns_cookie = netns_cookie;
        skel->rodata->pa_root_exempt = img.root_exempt;
        skel->rodata->pa_use_set_retval = use_retval;
        skel->rodata->pa_generation = generation;
        auto* m = &skel->maps;
        bpf_map__set_max_entries(m->pa_byaddr, at_least_one(img.byaddr.size()));
        bpf_map__set_max_entries(m->pa_byuid, at_least_one(img.byuid.size()));
        bpf_map__set_max_entries(m->pa_resv, at_least_one(img.resv.size()));
        bpf_map__set_max_entries(m->pa_rules, at_least_one(img.rules.size()));
        bpf_map__set_max_entries(m->pa_acl, at_least_one(img.acl.size()));
        bpf_map__set_max_entries(m->pa_counters, at_least_one(img.rules.size()));
        bpf_map__set_max_entries(m->pa_rule_names, at_least_one(img.rules.size()));
        if (events_fd >= 0 && bpf_map__reuse_fd(m->pa_events, events_fd) != 0)
            return sys_error("cannot reuse the pinned events ring buffer");
        if (portauth_bpf__load(skel.get()) == 0) return Loaded{std::move(skel), use_retval};
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

// Merges our reserved ports inside ip_local_port_range into
// ip_local_reserved_ports, leaving alone what the admin put there.
Result<std::set<uint16_t>> sync_reserved_ports(const std::string& pin_dir, const std::set<uint16_t>& reserved) {
    auto range = local_port_range();
    if (!range) return range.error();
    auto current = read_reserved_ports();
    if (!current) return current.error();
    const std::set<uint16_t> ours_before = read_sysctl_pin(pin_dir);
    std::set<uint16_t> admins;
    for (uint16_t p : *current)
        if (!ours_before.count(p)) admins.insert(p);
    std::set<uint16_t> ours;
    for (uint16_t p : reserved)
        if (p >= range->first && p <= range->second && !admins.count(p)) ours.insert(p);
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

Status probe_kernel() {
    auto cg = find_cgroup2_mount();
    if (!cg) return cg.error();
    struct utsname u {};
    ::uname(&u);
    int major = 0, minor = 0;
    std::sscanf(u.release, "%d.%d", &major, &minor);
    if (major < 5 || (major == 5 && minor < 17))
        return logic_error(std::string("portauth needs Linux 5.17 or later (bpf_loop, netns cookies in bind hooks); this is ") +
                           u.release);
    if (!exists("/sys/kernel/btf/vmlinux"))
        return logic_error("the kernel has no BTF (/sys/kernel/btf/vmlinux missing; CONFIG_DEBUG_INFO_BTF=y is needed)");
    LibbpfLog quiet;
    int r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, nullptr);
    if (r == 0) return logic_error("the kernel does not support cgroup sock_addr BPF programs (CONFIG_CGROUP_BPF)");
    if (r < 0) return Error{-r, "cannot use BPF (are you root? is the bpf() syscall allowed?)"};
    return {};
}

Result<ApplyReport> engine_apply(const KernelImage& img, const EngineTarget& target) {
    const auto t0 = std::chrono::steady_clock::now();
    ApplyReport report;
    report.cgroup = target.cgroup;
    report.rules = static_cast<uint32_t>(img.rules.size());
    if (target.policy_dir.size() >= sizeof(pa_meta{}.policy_dir) || target.cgroup.size() >= sizeof(pa_meta{}.cgroup))
        return logic_error("policy dir or cgroup path longer than 255 bytes");
    PA_TRY(probe_kernel());
    PA_TRY(ensure_bpffs_dir(target.pin_dir));
    auto lock = lock_pin_dir(target.pin_dir);
    if (!lock) return lock.error();
    remove_stale_pins(target.pin_dir);

    Fd cg(::open(target.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg) return sys_error("cannot open cgroup '" + target.cgroup + "'");
    auto cg_id = cgroup_id(target.cgroup);
    if (!cg_id) return cg_id.error();
    auto cookie = current_netns_cookie();
    if (!cookie) return cookie.error();

    // Generation and meta.
    uint32_t generation = 1;
    if (Fd old_meta = open_pin(pin_path(target.pin_dir, "meta"))) {
        pa_meta old{};
        __u32 zero = 0;
        if (bpf_map_lookup_elem(old_meta.get(), &zero, &old) == 0) generation = old.generation + 1;
    }

    const std::string events_pin = pin_path(target.pin_dir, "events");
    Fd events = open_pin(events_pin);
    auto loaded = load_program(img, *cookie, generation, events.get());
    if (!loaded) return loaded.error();
    report.eacces = loaded->eacces;
    report.load_ms = ms_since(t0);
    portauth_bpf* skel = loaded->skel.get();
    PA_TRY(fill_policy_maps(skel, img));

    // Meta.
    pa_meta meta{};
    meta.applied_at = static_cast<uint64_t>(std::time(nullptr));
    meta.netns_cookie = *cookie;
    meta.rule_count = report.rules;
    meta.generation = generation;
    meta.root_exempt = img.root_exempt;
    meta.errno_is_eacces = loaded->eacces;
    std::strncpy(meta.policy_dir, target.policy_dir.c_str(), sizeof meta.policy_dir - 1);
    std::strncpy(meta.cgroup, target.cgroup.c_str(), sizeof meta.cgroup - 1);
    __u32 zero = 0;
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.pa_meta), &zero, &meta, BPF_ANY) != 0)
        return sys_error("cannot write BPF map pa_meta");

    // Pin this generation's maps under temporary names; renamed into place after the swap.
    const std::pair<const char*, bpf_map*> gen_maps[] = {
        {"counters", skel->maps.pa_counters}, {"rule_names", skel->maps.pa_rule_names}, {"meta", skel->maps.pa_meta}};
    for (const auto& [name, map] : gen_maps) {
        const std::string tmp = pin_path(target.pin_dir, name) + "_new";
        if (bpf_obj_pin(bpf_map__fd(map), tmp.c_str()) != 0) return sys_error("cannot pin '" + tmp + "'");
    }
    if (!events && bpf_obj_pin(bpf_map__fd(skel->maps.pa_events), events_pin.c_str()) != 0)
        return sys_error("cannot pin '" + events_pin + "'");

    // The swap: each bind sees the old program or the new one, never a mix.
    const std::pair<const char*, bpf_program*> progs[] = {{"link_bind4", skel->progs.portauth_bind4},
                                                           {"link_bind6", skel->progs.portauth_bind6}};
    for (const auto& [name, prog] : progs) {
        const std::string path = pin_path(target.pin_dir, name);
        Fd old = open_pin(path);
        if (old) {
            auto info = link_info(old.get(), path);
            if (info && info->cgroup_id == *cg_id) {
                if (bpf_link_update(old.get(), bpf_program__fd(prog), nullptr) != 0)
                    return sys_error("cannot replace the program of '" + path + "'");
                report.replaced = true;
                continue;
            }
        }
        Link link(bpf_program__attach_cgroup(prog, cg.get()));
        if (!link) return sys_error("cannot attach " + std::string(bpf_program__name(prog)) + " to cgroup '" + target.cgroup + "'");
        const std::string tmp = path + "_new";
        if (bpf_link__pin(link.get(), tmp.c_str()) != 0) return sys_error("cannot pin '" + tmp + "'");
        if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_error("cannot rename '" + tmp + "'");
        bpf_link__disconnect(link.get());
        if (old) {
            bpf_link_detach(old.get());   // the policy moved to another cgroup
            report.replaced = true;
        }
    }
    for (const auto& [name, map] : gen_maps) {
        const std::string path = pin_path(target.pin_dir, name);
        if (::rename((path + "_new").c_str(), path.c_str()) != 0) return sys_error("cannot rename '" + path + "_new'");
    }

    auto added = sync_reserved_ports(target.pin_dir, img.reserved_ports);
    if (added) report.sysctl_added = *added;
    else report.after_swap = added.error();
    EnforcementState state{target.pin_dir, target.cgroup, target.policy_dir, *cookie, generation};
    if (Status s = write_state(state); !s && !report.after_swap) report.after_swap = s.error();
    report.total_ms = ms_since(t0);
    return report;
}

Result<EngineStatus> engine_status(const std::string& pin_dir) {
    EngineStatus st;
    Fd l4 = open_pin(pin_path(pin_dir, "link_bind4"));
    if (!l4 && (errno == EPERM || errno == EACCES))
        return sys_error("cannot read the pins at '" + pin_dir + "' (reading BPF objects needs root)");
    Fd l6 = open_pin(pin_path(pin_dir, "link_bind6"));
    if (!l4 || !l6) {
        st.problem = "no policy is loaded (nothing pinned at " + pin_dir + ")";
        return st;
    }
    auto i4 = link_info(l4.get(), "link_bind4");
    if (!i4) return i4.error();
    auto i6 = link_info(l6.get(), "link_bind6");
    if (!i6) return i6.error();
    st.prog_id_bind4 = i4->prog_id;
    st.prog_id_bind6 = i6->prog_id;

    Fd meta_fd = open_pin(pin_path(pin_dir, "meta"));
    pa_meta meta{};
    __u32 zero = 0;
    if (!meta_fd || bpf_map_lookup_elem(meta_fd.get(), &zero, &meta) != 0) {
        st.problem = "links are pinned at " + pin_dir + " but the meta map is missing; run portauth apply or unload";
        return st;
    }
    st.cgroup = meta.cgroup;
    st.policy_dir = meta.policy_dir;
    st.applied_at = meta.applied_at;
    st.netns_cookie = meta.netns_cookie;
    st.rule_count = meta.rule_count;
    st.generation = meta.generation;
    st.root_exempt = meta.root_exempt;
    st.eacces = meta.errno_is_eacces;
    st.sysctl_ports = read_sysctl_pin(pin_dir);

    auto cg_id = cgroup_id(st.cgroup);
    if (i4->cgroup_id == 0 || i6->cgroup_id == 0 || !cg_id || *cg_id != i4->cgroup_id || *cg_id != i6->cgroup_id) {
        st.problem = "the links are pinned but no longer attached to cgroup " + st.cgroup + " (was it removed?)";
        return st;
    }

    Fd names = open_pin(pin_path(pin_dir, "rule_names"));
    Fd counters = open_pin(pin_path(pin_dir, "counters"));
    const int ncpus = libbpf_num_possible_cpus();
    std::vector<pa_counter> percpu(ncpus > 0 ? static_cast<size_t>(ncpus) : 1);
    for (uint32_t id = 0; id < meta.rule_count; ++id) {
        RuleStatus r;
        r.id = id;
        pa_rule_name n{};
        if (names && bpf_map_lookup_elem(names.get(), &id, &n) == 0) r.name.assign(n.name, strnlen(n.name, sizeof n.name));
        if (counters && bpf_map_lookup_elem(counters.get(), &id, percpu.data()) == 0) {
            for (const auto& c : percpu) {
                r.allowed += c.allowed;
                r.denied += c.denied;
            }
        }
        st.rules.push_back(std::move(r));
    }
    st.active = true;
    return st;
}

Status engine_unload(const std::string& pin_dir) {
    if (!exists(pin_dir)) return {};
    auto lock = lock_pin_dir(pin_dir);
    if (!lock) return lock.error();
    for (const char* name : {"link_bind4", "link_bind6"}) {
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
    remove_stale_pins(pin_dir);
    remove_state(pin_dir);
    for (const char* name : kPins) {
        const std::string path = pin_path(pin_dir, name);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove pin '" + path + "'");
    }
    ::rmdir(pin_dir.c_str());   // when empty; a bpffs mount point itself stays (EBUSY)
    return {};
}

}  // namespace portauth
