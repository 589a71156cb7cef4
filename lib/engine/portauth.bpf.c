// SPDX-License-Identifier: GPL-2.0
/*
 * portauth.bpf.c - the kernel half of portauth: cgroup/bind4 and cgroup/bind6.
 *
 * For every bind(2) of a TCP, MPTCP or UDP socket in the governed cgroup and
 * network namespace:
 *   1. a port the policy does not mention passes after one array lookup;
 *   2. reservations on the port that the bind collides with must all be owned
 *      by the caller (uid 0 is exempt unless the policy is strict), else the
 *      bind fails with EACCES (EPERM on kernels without bpf_set_retval);
 *   3. the first authbind grant entry that exists (byport, byaddr, byuid, in
 *      authbind's order) decides whether the bind may skip the kernel's
 *      CAP_NET_BIND_SERVICE check.
 * A program whose generation is not the one in pa_gate lets every bind
 * through: that is how an apply switches both families at once.
 * Verdicts: 0 = refuse, 1 = allow (kernel checks go on), 3 = allow and waive
 * CAP_NET_BIND_SERVICE (bit 1, BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE).
 * The semantics mirror lib/policy/decide.cpp; tests compare the two.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "portauth-api.h"

#define VERDICT_REFUSE 0
#define VERDICT_ALLOW 1
#define VERDICT_ALLOW_NO_CAP 3
#define PA_EACCES 13
#define PA_IPPROTO_MPTCP 262

/* Load-time settings (rodata, frozen before the verifier runs). */
const volatile __u64 pa_netns_cookie = 0;   /* 0: every network namespace */
const volatile __u8 pa_root_exempt = 1;
const volatile __u8 pa_use_set_retval = 1;  /* cleared by the engine on kernels without it */
const volatile __u32 pa_generation = 0;     /* enforces while pa_gate holds it; copied into events */

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct pa_port);
} pa_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);   /* sized by the engine before load */
    __type(key, struct pa_addr_key);
    __type(value, __u32);
} pa_byaddr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, struct pa_uid_key);
    __type(value, struct pa_rule_list);
} pa_byuid SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, struct pa_resv_key);
    __type(value, struct pa_rule_list);
} pa_resv SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pa_rule);
} pa_rules SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, struct pa_acl_key);
    __type(value, __u8);
} pa_acl SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pa_counter);
} pa_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pa_rule_name);
} pa_rule_names SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pa_meta);
} pa_meta SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} pa_gate SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} pa_events SEC(".maps");

/* The caller's credentials, read once per bind into per-CPU scratch. The
 * supplementary groups are read only when a rule gets to its group class. */
struct pa_creds {
    __u32 euid;
    __u32 egid;
    __u32 ngroups;
    __u32 groups_loaded;
    __u32 groups[PA_MAX_GROUPS];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pa_creds);
} pa_scratch SEC(".maps");

/* The address the bind asks for, normalised (v4-mapped -> IPv4). */
struct pa_bind {
    __u16 port;
    __u8 proto;
    __u8 family;
    __u8 wildcard;
    __u8 dual_stack;   /* an IPv6 wildcard that also takes the IPv4 wildcard */
    __u8 addr[16];
};

static __always_inline struct pa_creds *read_creds(void)
{
    __u32 zero = 0;
    struct pa_creds *c = bpf_map_lookup_elem(&pa_scratch, &zero);
    if (!c)
        return 0;
    /* BTF pointer walk: plain loads, no helper call per field. */
    struct task_struct *task = bpf_get_current_task_btf();
    const struct cred *cred = task->cred;
    c->euid = cred->euid.val;
    c->egid = cred->egid.val;
    c->groups_loaded = 0;
    c->ngroups = 0;
    return c;
}

/* The lowest PA_MAX_GROUPS supplementary gids (the kernel keeps them sorted). */
static __always_inline void load_groups(struct pa_creds *c)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct group_info *gi = task->cred->group_info;
    int n = gi->ngroups;
    if (n < 0)
        n = 0;
    if (n > PA_MAX_GROUPS)
        n = PA_MAX_GROUPS;
    for (int i = 0; i < PA_MAX_GROUPS; i++) {
        if (i >= n)
            break;
        kgid_t g = {};
        bpf_probe_read_kernel(&g, sizeof(g), &gi->gid[i]);
        c->groups[i] = g.val;
    }
    c->ngroups = n;
    c->groups_loaded = 1;
}

struct group_scan {
    const struct pa_rule *rule;
    const struct pa_creds *creds;
    __u32 rule_id;
    __u8 matched;
    __u8 granted;
};

/* One gid of the group class: index 0 is the egid, i>0 is groups[i-1]. */
static long scan_one_group(__u32 index, void *data)
{
    struct group_scan *s = data;
    __u32 gid;
    if (index == 0) {
        gid = s->creds->egid;
    } else {
        __u32 i = index - 1;
        if (i >= s->creds->ngroups)
            return 1;
        barrier_var(i);
        if (i >= PA_MAX_GROUPS)
            return 1;
        gid = s->creds->groups[i];
    }
    const struct pa_rule *r = s->rule;
    __u8 mask = r->has_acl ? r->mask_x : 1;
    if (gid == r->owner_gid) {
        s->matched = 1;
        if (r->group_x && mask) {
            s->granted = 1;
            return 1;
        }
    }
    if (r->has_acl) {
        struct pa_acl_key k = {.rule = s->rule_id, .kind = PA_ACL_GROUP, .id = gid};
        __u8 *x = bpf_map_lookup_elem(&pa_acl, &k);
        if (x) {
            s->matched = 1;
            if (*x && mask) {
                s->granted = 1;
                return 1;
            }
        }
    }
    return 0;
}

/* What access(2) with X_OK and AT_EACCESS would answer on the rule's entry,
 * capabilities aside: POSIX.1e ACL evaluation (owner, named users, group
 * class, other). A global function: the verifier checks it once, not at
 * every call site. */
__noinline int may_execute(__u32 rule_id, const struct pa_rule *r, struct pa_creds *c)
{
    if (!r || !c)
        return 0;
    if (c->euid == r->owner_uid)
        return r->owner_x;
    if (r->has_acl) {
        struct pa_acl_key k = {.rule = rule_id, .kind = PA_ACL_USER, .id = c->euid};
        __u8 *x = bpf_map_lookup_elem(&pa_acl, &k);
        if (x)
            return *x && r->mask_x;
    }
    if (!c->groups_loaded)
        load_groups(c);
    struct group_scan s = {.rule = r, .creds = c, .rule_id = rule_id};
    bpf_loop(PA_MAX_GROUPS + 1, scan_one_group, &s, 0);
    if (s.matched)
        return s.granted;
    return r->other_x;
}

static __always_inline void count(__u32 rule_id, int allowed)
{
    struct pa_counter *ctr = bpf_map_lookup_elem(&pa_counters, &rule_id);
    if (!ctr)
        return;
    if (allowed)
        ctr->allowed++;
    else
        ctr->denied++;
}

/* Addresses are 16 network-order bytes; compare them as two big-endian halves. */
static __always_inline __u64 half(const __u8 *a, int i)
{
    __u64 v;
    __builtin_memcpy(&v, a + 8 * i, 8);
    return bpf_be64_to_cpu(v);
}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b)
{
    return half(a, 0) == half(b, 0) && half(a, 1) == half(b, 1);
}

/* a <= b, as memcmp would order them. */
static __always_inline int addr_le(const __u8 *a, const __u8 *b)
{
    __u64 a0 = half(a, 0), b0 = half(b, 0);
    return a0 < b0 || (a0 == b0 && half(a, 1) <= half(b, 1));
}

/* Does a bind of `b` take the address a reservation covers? */
static __always_inline int collides(const struct pa_rule *r, const struct pa_bind *b)
{
    if (r->family == PA_FAMILY_ANY)
        return 1;
    if (b->wildcard) {
        if (r->family == b->family)
            return 1;
        return b->family == PA_FAMILY_V6 && b->dual_stack && r->family == PA_FAMILY_V4;
    }
    return r->family == b->family && addr_eq(r->low, b->addr);
}

static __always_inline void report_refusal(const struct pa_bind *b, const struct pa_creds *c, __u32 rule_id)
{
    struct pa_event *e = bpf_ringbuf_reserve(&pa_events, sizeof(*e), 0);
    if (!e)
        return;
    __u64 id = bpf_get_current_pid_tgid();
    e->time_ns = bpf_ktime_get_boot_ns();
    e->pid = id >> 32;
    e->tid = (__u32)id;
    e->uid = c->euid;
    e->gid = c->egid;
    e->rule = rule_id;
    e->generation = pa_generation;
    e->port = b->port;
    e->proto = b->proto;
    e->family = b->family;
    __builtin_memcpy(e->addr, b->addr, 16);
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
}

struct resv_scan {
    const struct pa_rule_list *list;
    const struct pa_bind *bind;
    struct pa_creds *creds;
    __u8 exempt;
    __u8 owner;
    __u8 refused;
};

static long scan_one_reservation(__u32 i, void *data)
{
    struct resv_scan *s = data;
    if (i >= s->list->count)
        return 1;
    barrier_var(i);
    if (i >= PA_MAX_RULES_PER_PORT)
        return 1;
    __u32 rule_id = s->list->rule[i];
    struct pa_rule *r = bpf_map_lookup_elem(&pa_rules, &rule_id);
    if (!r || !collides(r, s->bind))
        return 0;
    if (s->exempt) {
        count(rule_id, 1);
        return 0;
    }
    if (!may_execute(rule_id, r, s->creds)) {
        count(rule_id, 0);
        report_refusal(s->bind, s->creds, rule_id);
        s->refused = 1;
        return 1;
    }
    count(rule_id, 1);
    s->owner = 1;
    return 0;
}

/* 1: every colliding reservation is the caller's (or none collides); 0: refused. */
static __always_inline int check_reservations(const struct pa_bind *b, struct pa_creds *c, int *owner)
{
    struct pa_resv_key k = {.port = b->port, .proto = b->proto};
    struct pa_rule_list *list = bpf_map_lookup_elem(&pa_resv, &k);
    if (!list)
        return 1;
    struct resv_scan s = {.list = list, .bind = b, .creds = c, .exempt = pa_root_exempt && c->euid == 0};
    bpf_loop(PA_MAX_RULES_PER_PORT, scan_one_reservation, &s, 0);
    *owner = s.owner;
    return !s.refused;
}

struct uid_scan {
    const struct pa_rule_list *list;
    const struct pa_bind *bind;
    __u8 granted;
};

static long scan_one_uid_line(__u32 i, void *data)
{
    struct uid_scan *s = data;
    if (i >= s->list->count)
        return 1;
    barrier_var(i);
    if (i >= PA_MAX_RULES_PER_PORT)
        return 1;
    __u32 id = s->list->rule[i];
    struct pa_rule *r = bpf_map_lookup_elem(&pa_rules, &id);
    if (!r || r->family != s->bind->family)
        return 0;
    if (addr_le(r->low, s->bind->addr) && addr_le(s->bind->addr, r->high)) {
        count(id, 1);
        s->granted = 1;
        return 1;
    }
    return 0;
}

/* authbind's order: byport, byaddr (first spelling that exists), byuid.
 * Returns the rule that decides, or PA_NO_RULE. */
static __always_inline int check_grants(const struct pa_bind *b, const struct pa_port *p, struct pa_creds *c)
{
    if (p->flags & PA_PORT_BYPORT) {
        __u32 rule_id = p->byport_rule;
        struct pa_rule *r = bpf_map_lookup_elem(&pa_rules, &rule_id);
        if (!r)
            return 0;
        int ok = may_execute(rule_id, r, c);
        count(rule_id, ok);
        return ok;
    }
    if (p->flags & PA_PORT_BYADDR) {
        struct pa_addr_key k = {.port = b->port, .family = b->family};
        __builtin_memcpy(k.addr, b->addr, 16);
        __u32 *rule_id = bpf_map_lookup_elem(&pa_byaddr, &k);
        if (rule_id) {
            __u32 id = *rule_id;
            struct pa_rule *r = bpf_map_lookup_elem(&pa_rules, &id);
            if (!r)
                return 0;
            int ok = may_execute(id, r, c);
            count(id, ok);
            return ok;
        }
    }
    if (p->flags & PA_PORT_BYUID) {
        struct pa_uid_key k = {.uid = c->euid, .port = b->port};
        struct pa_rule_list *list = bpf_map_lookup_elem(&pa_byuid, &k);
        if (!list)
            return 0;
        struct uid_scan s = {.list = list, .bind = b};
        bpf_loop(PA_MAX_RULES_PER_PORT, scan_one_uid_line, &s, 0);
        return s.granted;
    }
    return 0;
}

static __always_inline int refuse(void)
{
    if (pa_use_set_retval)
        bpf_set_retval(-PA_EACCES);
    return VERDICT_REFUSE;
}

static __always_inline int decide(struct bpf_sock_addr *ctx, struct pa_bind *b)
{
    if (pa_netns_cookie && bpf_get_netns_cookie(ctx) != pa_netns_cookie)
        return VERDICT_ALLOW;
    __u32 protocol = ctx->protocol;
    if (protocol == IPPROTO_TCP || protocol == PA_IPPROTO_MPTCP)
        b->proto = PA_PROTO_TCP;
    else if (protocol == IPPROTO_UDP)
        b->proto = PA_PROTO_UDP;
    else
        return VERDICT_ALLOW;
    b->port = bpf_ntohs(ctx->user_port);
    if (b->port == 0)
        return VERDICT_ALLOW;   /* ephemeral: ip_local_reserved_ports keeps reserved ports out */

    __u32 port_key = b->port;
    struct pa_port *p = bpf_map_lookup_elem(&pa_ports, &port_key);
    if (!p || p->flags == 0)
        return VERDICT_ALLOW;

    /* Only the generation the gate names enforces (see pa_gate in portauth-api.h). */
    __u32 zero = 0;
    __u32 *gate = bpf_map_lookup_elem(&pa_gate, &zero);
    if (!gate || *gate != pa_generation)
        return VERDICT_ALLOW;

    struct pa_creds *c = read_creds();
    if (!c)
        return VERDICT_ALLOW;

    int owner = 0;
    __u32 resv_flag = b->proto == PA_PROTO_TCP ? PA_PORT_RESV_TCP : PA_PORT_RESV_UDP;
    if ((p->flags & resv_flag) && !check_reservations(b, c, &owner))
        return refuse();
    if (owner)
        return VERDICT_ALLOW_NO_CAP;   /* owners of a reserved port need no capability */
    if (check_grants(b, p, c))
        return VERDICT_ALLOW_NO_CAP;
    return VERDICT_ALLOW;
}

SEC("cgroup/bind4")
int portauth_bind4(struct bpf_sock_addr *ctx)
{
    struct pa_bind b = {.family = PA_FAMILY_V4};
    __u32 ip = ctx->user_ip4;
    __builtin_memcpy(b.addr, &ip, 4);
    b.wildcard = ip == 0;
    return decide(ctx, &b);
}

SEC("cgroup/bind6")
int portauth_bind6(struct bpf_sock_addr *ctx)
{
    struct pa_bind b = {};
    __u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2], w3 = ctx->user_ip6[3];
    if (w0 == 0 && w1 == 0 && w2 == bpf_htonl(0x0000ffff)) {
        b.family = PA_FAMILY_V4;
        __builtin_memcpy(b.addr, &w3, 4);
        b.wildcard = w3 == 0;
    } else {
        b.family = PA_FAMILY_V6;
        __builtin_memcpy(b.addr, &w0, 4);
        __builtin_memcpy(b.addr + 4, &w1, 4);
        __builtin_memcpy(b.addr + 8, &w2, 4);
        __builtin_memcpy(b.addr + 12, &w3, 4);
        b.wildcard = (w0 | w1 | w2 | w3) == 0;
        /* Whether the socket is IPV6_V6ONLY is not visible from here without
         * reaching into struct sock; a wildcard IPv6 bind is treated as
         * dual-stack, which is what it is unless the program set V6ONLY. */
        b.dual_stack = b.wildcard;
    }
    return decide(ctx, &b);
}

char LICENSE[] SEC("license") = "GPL";
