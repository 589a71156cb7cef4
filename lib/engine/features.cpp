#include "engine/features.hpp"

#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <utility>

#include "common/proc_status.hpp"
#include "engine/portauth-api.h"
#include "engine/system.hpp"

namespace portauth {

namespace {

// libbpf silent while probing: a probe's refusal is an answer, not news.
class QuietLibbpf {
public:
    QuietLibbpf() : previous_(libbpf_set_print(nullptr)) {}
    ~QuietLibbpf() { libbpf_set_print(previous_); }
    QuietLibbpf(const QuietLibbpf&) = delete;
    QuietLibbpf& operator=(const QuietLibbpf&) = delete;

private:
    libbpf_print_fn_t previous_;
};

// CAP_BPF (39, Linux 5.8) or CAP_SYS_ADMIN (21) in the effective set.
bool may_load_bpf() {
    if (::geteuid() == 0) return true;
    return has_effective_capability(21) || has_effective_capability(39);
}

struct Helper {
    const char* name;       // for PORTAUTH_BPF_WITHOUT
    bpf_func_id id;
    const char* what;       // for people
    const char* since;      // the mainline release that added it, where it is certain; else nullptr
    uint8_t feature;        // PA_FEATURE_* when optional, 0 when the program needs it
};

// What the program calls. The optional ones change the variant loaded; see
// lib/engine/portauth.bpf.c (pa_use_*) and README's kernel table.
constexpr Helper kHelpers[] = {
    {"task_btf", BPF_FUNC_get_current_task_btf, "bpf_get_current_task_btf in cgroup programs", nullptr, 0},
    {"netns_cookie", BPF_FUNC_get_netns_cookie, "bpf_get_netns_cookie in bind programs", nullptr, 0},
    {"ringbuf", BPF_FUNC_ringbuf_reserve, "the BPF ring buffer", "Linux 5.8", 0},
    {"skc_to_tcp_sock", BPF_FUNC_skc_to_tcp_sock, "bpf_skc_to_tcp_sock in cgroup programs", nullptr, 0},
    {"probe_read_kernel", BPF_FUNC_probe_read_kernel, "bpf_probe_read_kernel", "Linux 5.5", 0},
    {"ktime_get_boot_ns", BPF_FUNC_ktime_get_boot_ns, "bpf_ktime_get_boot_ns", "Linux 5.8", 0},
    {"current_comm", BPF_FUNC_get_current_comm, "bpf_get_current_comm in bind programs", nullptr, 0},
    {"bpf_loop", BPF_FUNC_loop, "bpf_loop", "Linux 5.17", PA_FEATURE_BPF_LOOP},
    {"set_retval", BPF_FUNC_set_retval, "bpf_set_retval", "Linux 5.18", PA_FEATURE_SET_RETVAL},
    {"sk_storage", BPF_FUNC_sk_storage_get, "bpf_sk_storage_get in bind programs", nullptr, PA_FEATURE_SK_STORAGE},
    {"v6only", BPF_FUNC_skc_to_tcp6_sock, "bpf_skc_to_tcp6_sock in bind programs", nullptr, PA_FEATURE_V6ONLY},
    {"v6only", BPF_FUNC_skc_to_udp6_sock, "bpf_skc_to_udp6_sock in bind programs", nullptr, PA_FEATURE_V6ONLY},
};

struct Optional {
    uint8_t feature;
    const char* name;
    const char* without;   // what a program without it does differently
};

constexpr Optional kOptional[] = {
    {PA_FEATURE_BPF_LOOP, "bpf_loop", "without bpf_loop: bounded loops, the same decisions"},
    {PA_FEATURE_SET_RETVAL, "set_retval", "without bpf_set_retval: refused binds fail with EPERM, not EACCES"},
    {PA_FEATURE_SK_STORAGE, "sk_storage",
     "without socket storage: portwatch judges a socket by its holders, not by who bound it"},
    {PA_FEATURE_V6ONLY, "v6only", "without IPV6_V6ONLY: every IPv6 wildcard bind counts as dual-stack"},
};

Result<std::set<std::string>> withheld() {
    std::set<std::string> out;
    const char* env = ::secure_getenv("PORTAUTH_BPF_WITHOUT");
    if (!env || !*env) return out;
    const auto known = feature_names();
    std::stringstream in(env);
    std::string name;
    while (std::getline(in, name, ',')) {
        if (name.empty()) continue;
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string list;
            for (const auto& k : known) {
                if (!list.empty()) list += ", ";
                list += k;
            }
            std::string what = "PORTAUTH_BPF_WITHOUT: unknown feature '";
            what += name;
            what += "' (known: ";
            what += list;
            what += ")";
            return logic_error(std::move(what));
        }
        out.insert(name);
    }
    return out;
}

}  // namespace

std::vector<std::string> feature_names() {
    std::vector<std::string> names;
    for (const auto& h : kHelpers)
        if (std::find(names.begin(), names.end(), h.name) == names.end()) names.emplace_back(h.name);
    return names;
}

Result<ProgramFeatures> probe_program_features() {
    auto cg = find_cgroup2_mount();
    if (!cg) return cg.error();
    if (!may_load_bpf())
        return Error{EPERM, "loading the policy into the kernel needs root (CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN); "
                            "run 'portauth apply' as root"};
    auto without = withheld();
    if (!without) return without.error();
    struct stat st {};
    if (::stat("/sys/kernel/btf/vmlinux", &st) != 0)
        return logic_error("the kernel has no BTF (/sys/kernel/btf/vmlinux missing; CONFIG_DEBUG_INFO_BTF=y is needed)");
    QuietLibbpf quiet;
    const int r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, nullptr);
    if (r < 0) return Error{-r, "cannot use BPF (is the bpf() syscall allowed here? a seccomp filter or kernel.unprivileged_bpf_disabled?)"};
    if (r == 0) return logic_error("the kernel does not support cgroup sock_addr BPF programs (CONFIG_CGROUP_BPF)");
    ProgramFeatures f;
    for (const auto& o : kOptional) f.bits |= o.feature;
    for (const auto& h : kHelpers) {
        const bool held_back = without->count(h.name) != 0;
        if (h.feature && !(f.bits & h.feature)) continue;   // already off
        const bool present = !held_back && libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, h.id, nullptr) != 0;
        if (present) continue;
        if (h.feature) {
            f.bits = static_cast<uint8_t>(f.bits & ~h.feature);
            continue;
        }
        std::string what = "this kernel lacks ";
        what += h.what;
        if (held_back) {
            what += " (withheld by PORTAUTH_BPF_WITHOUT)";
        } else if (h.since) {
            what += " (added in ";
            what += h.since;
            what += ")";
        }
        what += ", which portauth's bind program needs; nothing was loaded";
        return logic_error(std::move(what));
    }
    return f;
}

std::vector<std::string> describe_missing(uint8_t bits) {
    std::vector<std::string> out;
    for (const auto& o : kOptional)
        if (!(bits & o.feature)) out.emplace_back(o.without);
    return out;
}

std::vector<std::string> feature_list(uint8_t bits, bool present) {
    std::vector<std::string> out;
    for (const auto& o : kOptional)
        if (((bits & o.feature) != 0) == present) out.emplace_back(o.name);
    return out;
}

}  // namespace portauth
