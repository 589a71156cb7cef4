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
 * Refusals by reservations, and grant misses the kernel is going to refuse
 * itself, become events, rate-limited per key (pa_event_keys) and counted
 * (pa_event_stats). Every bind on a reserved port records its binder in the
 * socket's storage (pa_binders) for portwatch.
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
const volatile __u8 pa_use_sk_storage = 1;  /* cleared by the engine where sock_addr programs lack bpf_sk_storage_get */
const volatile __u8 pa_use_v6only = 1;      /* cleared by the engine where bind6 cannot call bpf_skc_to_{tcp,udp}6_sock */
const volatile __u8 pa_use_bpf_loop = 1;    /* cleared by the engine where bpf_loop is missing (before 5.17): bounded loops */

#define PA_CAP_NET_BIND_SERVICE 10
#define PA_MAX_USERNS_DEPTH 33   /* the kernel allows 32 nested user namespaces, plus the initial one */

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

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, PA_EVENT_KEYS);
    __type(key, struct pa_event_key);
    __type(value, struct pa_event_window);
} pa_event_keys SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pa_event_stats);
} pa_event_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct pa_binder);
} pa_binders SEC(".maps");

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

/* Calls fn(0), fn(1), ... until it returns nonzero or n calls were made:
 * through bpf_loop (5.17+: the verifier checks fn once), or, where the
 * engine cleared pa_use_bpf_loop, as a bounded loop the verifier walks
 * iteration by iteration (5.3+). rodata is frozen before the verifier runs,
 * so it knows the branch not taken, never checks it and removes it: a
 * kernel without bpf_loop never sees that call. Same semantics
 * either way: the tests run both (PORTAUTH_BPF_WITHOUT=bpf_loop). */
static __always_inline void pa_loop(__u32 n, long (*fn)(__u32, void *), void *ctx)
{
    if (pa_use_bpf_loop) {
        bpf_loop(n, fn, ctx, 0);
        return;
    }
    for (__u32 i = 0; i < n; i++)
        if (fn(i, ctx))
            break;
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
    pa_loop(PA_MAX_GROUPS + 1, scan_one_group, &s);
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

/* The rate limit (see pa_event_keys in portauth-api.h). A refusal is folded
 * while its key delivered less than PA_EVENT_WINDOW_NS ago; otherwise this
 * CPU reserves a record and claims the window with a compare-and-swap on
 * last_sent_ns, so two CPUs never both deliver in one window. The folded
 * count is taken with an exchange: a refusal folded concurrently goes into
 * the next record, never into none. Each refusal counts once in
 * pa_event_stats. A key the LRU evicts loses its folded count (still in the
 * stats' `suppressed`). */
static __noinline void report_refusal(__u8 kind, const struct pa_bind *b, const struct pa_creds *c, __u32 rule_id)
{
    __u32 zero = 0;
    struct pa_event_stats *stats = bpf_map_lookup_elem(&pa_event_stats, &zero);
    if (!stats || !b || !c)
        return;
    __u64 now = bpf_ktime_get_boot_ns();
    struct pa_event_key k = {.uid = c->euid, .rule = rule_id, .port = b->port, .proto = b->proto, .kind = kind};
    struct pa_event_window *w = bpf_map_lookup_elem(&pa_event_keys, &k);
    if (!w) {
        struct pa_event_window fresh = {};
        bpf_map_update_elem(&pa_event_keys, &k, &fresh, BPF_NOEXIST);   /* EEXIST: another CPU made it */
        w = bpf_map_lookup_elem(&pa_event_keys, &k);
        if (!w)
            return;   /* not reached: the entry was made just now */
    }
    __u64 last = w->last_sent_ns;
    if (last && now - last < PA_EVENT_WINDOW_NS)
        goto fold;
    struct pa_event *e = bpf_ringbuf_reserve(&pa_events, sizeof(*e), 0);
    if (!e) {
        __sync_fetch_and_add(&stats->dropped, 1);
        return;
    }
    if (__sync_val_compare_and_swap(&w->last_sent_ns, last, now) != last) {
        bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
        goto fold;   /* another CPU delivered this key's record for this window */
    }
    __u64 id = bpf_get_current_pid_tgid();
    e->time_ns = now;
    e->suppressed = __sync_lock_test_and_set(&w->folded, 0);
    e->window_start_ns = __sync_lock_test_and_set(&w->first_folded_ns, 0);
    if (e->suppressed == 0)
        e->window_start_ns = 0;
    else if (e->window_start_ns == 0)
        e->window_start_ns = last;   /* the folder had not stamped it yet */
    e->pid = id >> 32;
    e->tid = (__u32)id;
    e->uid = c->euid;
    e->gid = c->egid;
    e->rule = rule_id;
    e->generation = pa_generation;
    e->port = b->port;
    e->proto = b->proto;
    e->family = b->family;
    e->kind = kind;
    __builtin_memset(e->pad, 0, sizeof(e->pad));
    __builtin_memcpy(e->addr, b->addr, 16);
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
    __sync_fetch_and_add(&stats->delivered, 1);
    return;
fold:
    __sync_val_compare_and_swap(&w->first_folded_ns, 0, now);
    __sync_fetch_and_add(&w->folded, 1);
    __sync_fetch_and_add(&stats->suppressed, 1);
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
        report_refusal(PA_EVENT_RESERVATION, s->bind, s->creds, rule_id);
        s->refused = 1;
        return 1;
    }
    count(rule_id, 1);
    s->owner = 1;
    return 0;
}

/* The bounded-loop variant of the reservation scan, a global function: the
 * verifier checks it once, not along every path of decide() (walked there,
 * 16 iterations multiply with everything after them past its limit).
 * Returns bit 0: an owner; bit 1: refused (also for arguments it cannot
 * read, which do not happen: fail closed). */
__noinline int scan_reservations_bounded(const struct pa_rule_list *list, const struct pa_bind *b, struct pa_creds *c,
                                         int exempt)
{
    if (!list || !b || !c)
        return 2;
    struct resv_scan s = {.list = list, .bind = b, .creds = c, .exempt = exempt};
    for (__u32 i = 0; i < PA_MAX_RULES_PER_PORT; i++)
        if (scan_one_reservation(i, &s))
            break;
    return (s.refused ? 2 : 0) | (s.owner ? 1 : 0);
}

/* 1: every colliding reservation is the caller's (or none collides); 0: refused. */
static __always_inline int check_reservations(const struct pa_bind *b, struct pa_creds *c, int *owner)
{
    struct pa_resv_key k = {.port = b->port, .proto = b->proto};
    struct pa_rule_list *list = bpf_map_lookup_elem(&pa_resv, &k);
    if (!list)
        return 1;
    const int exempt = pa_root_exempt && c->euid == 0;
    if (!pa_use_bpf_loop) {
        const int r = scan_reservations_bounded(list, b, c, exempt);
        *owner = r & 1;
        return !(r & 2);
    }
    struct resv_scan s = {.list = list, .bind = b, .creds = c, .exempt = exempt};
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

/* The bounded-loop variant of the byuid scan (see scan_reservations_bounded). */
__noinline int scan_uid_lines_bounded(const struct pa_rule_list *list, const struct pa_bind *b)
{
    if (!list || !b)
        return 0;
    struct uid_scan s = {.list = list, .bind = b};
    for (__u32 i = 0; i < PA_MAX_RULES_PER_PORT; i++)
        if (scan_one_uid_line(i, &s))
            break;
    return s.granted;
}

/* authbind's order: byport, byaddr (first spelling that exists), byuid.
 * Returns 1 when an entry grants. When an entry exists and decides but does
 * not grant, *missed is that entry's rule (for a byuid file whose lines for
 * the port do not cover the address: its first line for the port). */
static __always_inline int check_grants(const struct pa_bind *b, const struct pa_port *p, struct pa_creds *c,
                                        __u32 *missed)
{
    if (p->flags & PA_PORT_BYPORT) {
        __u32 rule_id = p->byport_rule;
        struct pa_rule *r = bpf_map_lookup_elem(&pa_rules, &rule_id);
        if (!r)
            return 0;
        int ok = may_execute(rule_id, r, c);
        count(rule_id, ok);
        if (!ok)
            *missed = rule_id;
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
            if (!ok)
                *missed = id;
            return ok;
        }
    }
    if (p->flags & PA_PORT_BYUID) {
        struct pa_uid_key k = {.uid = c->euid, .port = b->port};
        struct pa_rule_list *list = bpf_map_lookup_elem(&pa_byuid, &k);
        if (!list)
            return 0;
        int granted;
        if (pa_use_bpf_loop) {
            struct uid_scan s = {.list = list, .bind = b};
            bpf_loop(PA_MAX_RULES_PER_PORT, scan_one_uid_line, &s, 0);
            granted = s.granted;
        } else {
            granted = scan_uid_lines_bounded(list, b);
        }
        if (!granted && list->count > 0)
            *missed = list->rule[0];
        return granted;
    }
    return 0;
}

/* Does the caller hold CAP_NET_BIND_SERVICE in user namespace `target`? The
 * walk of security/commoncap.c cap_capable(): the caller's own namespace
 * decides by cap_effective; a namespace whose parent is the caller's and
 * whose owner is the caller's euid grants everything; a namespace at or
 * above the caller's level grants nothing. LSMs (security_capable) are not
 * consulted: an LSM that refuses the capability makes us miss an event.
 * cap_effective is read as 8 bytes: a u64 since 6.3, __u32 cap[2] before,
 * the same bits on a little-endian CPU. */
static __always_inline int has_bind_cap(const struct cred *cred, struct user_namespace *target)
{
    struct user_namespace *mine = cred->user_ns;
    __u32 euid = cred->euid.val;
    for (int i = 0; i < PA_MAX_USERNS_DEPTH; i++) {
        if (!target || !mine)
            return 0;
        if (target == mine) {
            __u64 caps = 0;
            bpf_core_read(&caps, sizeof(caps), &cred->cap_effective);
            return (caps >> PA_CAP_NET_BIND_SERVICE) & 1;
        }
        if (target->level <= mine->level)
            return 0;
        struct user_namespace *parent = target->parent;
        if (parent == mine && target->owner.val == euid)
            return 1;
        target = parent;
    }
    return 0;
}

/* Is the kernel going to refuse this bind itself (inet_bind's check:
 * port < net->ipv4.sysctl_ip_prot_sock and no CAP_NET_BIND_SERVICE in the
 * socket's netns's user namespace)? The socket's netns is read through
 * ctx->sk for TCP (bpf_skc_to_tcp_sock); for other sockets it is the
 * caller's netns when its cookie is the socket's, else unknown (no event):
 * a UDP or MPTCP socket passed in from another netns is not reported. */
static __always_inline int kernel_refuses(struct bpf_sock_addr *ctx, __u16 port)
{
    struct task_struct *task = bpf_get_current_task_btf();
    const struct cred *cred = task->cred;
    struct net *net = 0;
    struct bpf_sock *bsk = ctx->sk;
    if (bsk) {
        struct tcp_sock *tp = bpf_skc_to_tcp_sock(bsk);
        if (tp)
            net = tp->inet_conn.icsk_inet.sk.__sk_common.skc_net.net;
    }
    if (!net) {
        struct nsproxy *ns = task->nsproxy;
        if (!ns)
            return 0;
        net = ns->net_ns;
        if (!net || net->net_cookie != bpf_get_netns_cookie(ctx))
            return 0;
    }
    if ((int)port >= net->ipv4.sysctl_ip_prot_sock)
        return 0;
    return !has_bind_cap(cred, net->user_ns);
}

/* Who bound the socket, in its storage (pa_binders), whatever the verdict. */
static __always_inline void record_binder(struct bpf_sock_addr *ctx, struct pa_creds *c)
{
    if (!pa_use_sk_storage || !ctx->sk)
        return;
    struct pa_binder *bd = bpf_sk_storage_get(&pa_binders, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!bd)
        return;   /* out of memory: portwatch falls back to the holders */
    if (!c->groups_loaded)
        load_groups(c);
    __u64 id = bpf_get_current_pid_tgid();
    bd->time_ns = bpf_ktime_get_boot_ns();
    bd->pid = id >> 32;
    bd->uid = c->euid;
    bd->gid = c->egid;
    __u32 n = c->ngroups;
    if (n > PA_MAX_GROUPS)
        n = PA_MAX_GROUPS;
    bd->ngroups = n;
    __builtin_memcpy(bd->groups, c->groups, sizeof(bd->groups));
    bd->generation = pa_generation;
    bd->pad = 0;
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

    if (p->flags & (PA_PORT_RESV_TCP | PA_PORT_RESV_UDP))
        record_binder(ctx, c);

    int owner = 0;
    __u32 resv_flag = b->proto == PA_PROTO_TCP ? PA_PORT_RESV_TCP : PA_PORT_RESV_UDP;
    if ((p->flags & resv_flag) && !check_reservations(b, c, &owner))
        return refuse();
    if (owner)
        return VERDICT_ALLOW_NO_CAP;   /* owners of a reserved port need no capability */
    __u32 missed = PA_NO_RULE;
    if (check_grants(b, p, c, &missed))
        return VERDICT_ALLOW_NO_CAP;
    if (missed != PA_NO_RULE && kernel_refuses(ctx, b->port))
        report_refusal(PA_EVENT_GRANT_MISS, b, c, missed);
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

/* Is the socket IPV6_V6ONLY (set by setsockopt, or at socket() from
 * net.ipv6.bindv6only)? 0 when it cannot be read: an MPTCP socket (neither
 * helper takes it), or pa_use_v6only cleared. 0 makes a wildcard bind
 * dual-stack, the side that refuses more. */
static __always_inline int socket_is_v6only(struct bpf_sock_addr *ctx)
{
    if (!pa_use_v6only)
        return 0;
    struct bpf_sock *bsk = ctx->sk;
    if (!bsk)
        return 0;
    struct tcp6_sock *tp = bpf_skc_to_tcp6_sock(bsk);
    if (tp)
        return BPF_CORE_READ_BITFIELD(&tp->tcp.inet_conn.icsk_inet.sk.__sk_common, skc_ipv6only);
    struct udp6_sock *up = bpf_skc_to_udp6_sock(bsk);
    if (up)
        return BPF_CORE_READ_BITFIELD(&up->udp.inet.sk.__sk_common, skc_ipv6only);
    return 0;
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
        /* A wildcard IPv6 bind also takes the IPv4 wildcard unless the
         * socket is IPV6_V6ONLY (lib/policy/decide.hpp, BindRequest). */
        b.dual_stack = b.wildcard && !socket_is_v6only(ctx);
    }
    return decide(ctx, &b);
}

char LICENSE[] SEC("license") = "GPL";
