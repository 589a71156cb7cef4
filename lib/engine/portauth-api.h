/*
 * portauth-api.h - the contract between portauth.bpf.c and the C++ engine.
 *
 * Plain fixed-width C, included by both sides. Every map is described here:
 * its key, its value, byte order and a worked example. Nothing in here is
 * C++ or kernel-only.
 *
 * Byte order: ports are HOST order in every key and value (the BPF program
 * converts ctx->user_port with bpf_ntohs once). Addresses are NETWORK order
 * bytes, as in struct in_addr / in6_addr. IPv4 addresses use addr[0..3] and
 * addr[4..15] are zero; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
 * always stored and looked up as the IPv4 address.
 *
 * Rule ids: every policy entry that can decide a bind (a byport or byaddr
 * file, one line of a byuid file, a reservation) gets an index into
 * `rules`; the same index names it in `counters`, `rule_names` and events.
 */
#ifndef PORTAUTH_API_H
#define PORTAUTH_API_H

#ifdef __BPF__
/* vmlinux.h provides the __u8.. types on the BPF side. */
#else
#include <linux/types.h>
#endif

/* Limits the kernel side is built for; the compiler refuses policies past them. */
#define PA_MAX_RULES_PER_PORT 16   /* reservations touching one proto/port; byuid lines per uid/port */
#define PA_MAX_GROUPS 64           /* supplementary groups examined (the lowest gids) */
#define PA_RULE_NAME_LEN 128
#define PA_NO_RULE 0xffffffffu

enum pa_proto {
    PA_PROTO_TCP = 6,   /* IPPROTO_TCP; MPTCP binds arrive as TCP */
    PA_PROTO_UDP = 17,  /* IPPROTO_UDP */
};

enum pa_family {
    PA_FAMILY_ANY = 0,  /* a reservation on every local address */
    PA_FAMILY_V4 = 4,
    PA_FAMILY_V6 = 6,
};

/* pa_ports: ARRAY, 65536 entries, key = port (host order), value below.
 * The fast path: a port whose entry is all zero (and byport_rule == 0 with
 * flag PA_PORT_BYPORT clear) is not mentioned by the policy; the bind goes
 * on with one array lookup.
 * Example: byport/80 is rule 3 and reserve/udp/80 exists ->
 *   pa_ports[80] = { .byport_rule = 3, .flags = PA_PORT_BYPORT | PA_PORT_RESV_UDP } */
enum pa_port_flags {
    PA_PORT_BYPORT = 1 << 0,    /* byport_rule is valid */
    PA_PORT_BYADDR = 1 << 1,    /* look in pa_byaddr */
    PA_PORT_BYUID = 1 << 2,     /* look in pa_byuid */
    PA_PORT_RESV_TCP = 1 << 3,  /* look in pa_resv with proto tcp */
    PA_PORT_RESV_UDP = 1 << 4,  /* look in pa_resv with proto udp */
};

struct pa_port {
    __u32 byport_rule;
    __u32 flags;
};

/* pa_byaddr: HASH, key = struct pa_addr_key, value = __u32 rule id.
 * Only the spelling authbind consults first survives compilation.
 * Example: byaddr/127.0.0.1,80 (rule 5) ->
 *   { .port = 80, .family = 4, .addr = {127,0,0,1} } => 5 */
struct pa_addr_key {
    __u16 port;
    __u8 family;
    __u8 pad;
    __u8 addr[16];
};

/* pa_byuid: HASH, key = struct pa_uid_key, value = struct pa_rule_list of
 * byuid line rules whose port range covers `port`, for that uid, taken from
 * byuid/!UID for ports 512-1023 and from byuid/UID otherwise.
 * Example: byuid/1001 line 2 "0.0.0.0/0,80-81" is rule 7 ->
 *   { .uid = 1001, .port = 80 } => { .count = 1, .rule = {7} }, same for 81. */
struct pa_uid_key {
    __u32 uid;
    __u16 port;
    __u16 pad;
};

struct pa_rule_list {
    __u32 count;
    __u32 rule[PA_MAX_RULES_PER_PORT];
};

/* pa_resv: HASH, key = struct pa_resv_key, value = struct pa_rule_list of
 * every reservation on that proto/port, on any address.
 * Example: reserve/udp/5060 (rule 0) and reserve/udp/5060@127.0.0.1 (rule 1) ->
 *   { .port = 5060, .proto = 17 } => { .count = 2, .rule = {0, 1} } */
struct pa_resv_key {
    __u16 port;
    __u8 proto;
    __u8 pad;
};

/* pa_rules: ARRAY, key = rule id, value below: who the entry lets through
 * (the POSIX ACL access check for X_OK, see may_execute) and, for byuid lines
 * and reservations, the addresses it covers.
 *   byuid line:   family 4/6, [low, high] inclusive address interval
 *   reservation:  family 0 = every address, else low = the one address
 * Example: reserve/udp/5060 owned by uid 0, mode 0400, ACL user:51000:--x,
 * mask --x -> { .kind = PA_RULE_RESERVE, .owner_uid = 0, .owner_x = 0,
 *   .has_acl = 1, .mask_x = 1, .family = 0 } and pa_acl {rule, user, 51000} => 1 */
enum pa_rule_kind {
    PA_RULE_BYPORT = 1,
    PA_RULE_BYADDR = 2,
    PA_RULE_BYUID = 3,
    PA_RULE_RESERVE = 4,
};

struct pa_rule {
    __u32 kind;
    __u32 owner_uid;
    __u32 owner_gid;
    __u8 owner_x;
    __u8 group_x;   /* ACL_GROUP_OBJ (unmasked) with an ACL, else the mode's group x bit */
    __u8 other_x;
    __u8 has_acl;
    __u8 mask_x;
    __u8 family;
    __u8 proto;
    __u8 pad;
    __u8 low[16];
    __u8 high[16];
};

/* pa_acl: HASH, key = struct pa_acl_key, value = __u8 x bit of a named ACL
 * entry, unmasked. Only rules with has_acl have entries here. */
enum pa_acl_kind { PA_ACL_USER = 1, PA_ACL_GROUP = 2 };

struct pa_acl_key {
    __u32 rule;
    __u32 kind;
    __u32 id;
};

/* pa_counters: PERCPU_ARRAY, key = rule id. `allowed`: binds the rule let
 * through (a grant that granted, a reservation whose owner bound). `denied`:
 * binds refused because of a reservation, and binds for which a grant entry
 * existed but did not grant (the kernel's own CAP_NET_BIND_SERVICE check then
 * decides). Each apply adds the previous generation's counts to the entries
 * that keep their name (not byuid lines: line numbers shift with edits). */
struct pa_counter {
    __u64 allowed;
    __u64 denied;
};

/* pa_events: RINGBUF, one struct pa_event per refused bind that the kernel
 * delivers (see the rate limit below). Kept across applies (the engine
 * reuses the pinned map "events").
 *
 * Kinds:
 *   PA_EVENT_RESERVATION  a reservation refused the bind (the bind fails);
 *   PA_EVENT_GRANT_MISS   a grant entry exists for the port but does not let
 *                         the caller through, and the kernel is going to refuse
 *                         the bind itself (the caller lacks CAP_NET_BIND_SERVICE
 *                         and the port is below ip_unprivileged_port_start).
 *
 * Rate limit: at most one event per key (kind, uid, proto, port, rule) per
 * PA_EVENT_WINDOW_NS; the refusals folded into a key's window are counted and
 * sent as `suppressed` with the key's next delivered event (pa_event_keys).
 * Every refusal is counted in pa_event_stats, delivered or not.
 * The window is claimed with a compare-and-swap on last_sent_ns after the
 * record is reserved (a CPU that loses the race discards its record and
 * folds), and `folded` is taken with an exchange, so a refusal folded
 * concurrently is carried by the next record, never lost and never twice.
 * A key evicted by the LRU loses its folded count (pa_event_stats keeps it).
 * A grant miss is reported only when the program can tell the kernel will
 * refuse: it reads the socket's netns through ctx->sk for TCP
 * (bpf_skc_to_tcp_sock), else uses the caller's netns when its cookie is the
 * socket's; it follows cap_capable()'s user namespace walk but does not ask
 * LSMs. Example: byport/80 grants uid 51000 only; uid 51001 without
 * CAP_NET_BIND_SERVICE binds 80 -> { .kind = PA_EVENT_GRANT_MISS,
 * .uid = 51001, .rule = <byport/80's id>, .port = 80 }. */
#define PA_EVENT_WINDOW_NS 250000000ULL   /* 250 ms */
#define PA_EVENT_KEYS 16384               /* LRU keys of the rate limit */

enum pa_event_kind {
    PA_EVENT_RESERVATION = 1,
    PA_EVENT_GRANT_MISS = 2,
};

struct pa_event {
    __u64 time_ns;      /* bpf_ktime_get_boot_ns() of this refusal */
    __u64 window_start_ns;  /* boot time of the first refusal folded into `suppressed` (0: none) */
    __u32 pid;          /* thread group id */
    __u32 tid;
    __u32 uid;          /* effective uid */
    __u32 gid;          /* effective gid */
    __u32 rule;         /* the entry that refused (reservation) or did not grant (grant miss) */
    __u32 generation;   /* pa_meta.generation of the policy that refused: rule ids are per generation */
    __u32 suppressed;   /* refusals of this key folded since the previous delivered event */
    __u16 port;         /* host order */
    __u8 proto;         /* enum pa_proto */
    __u8 family;        /* 4 or 6; wildcard binds carry an all-zero addr */
    __u8 addr[16];
    char comm[16];
    __u8 kind;          /* enum pa_event_kind */
    __u8 pad[7];
};

/* pa_event_keys: LRU_HASH, PA_EVENT_KEYS entries, the rate limit's state. */
struct pa_event_key {
    __u32 uid;
    __u32 rule;
    __u16 port;
    __u8 proto;
    __u8 kind;
};

struct pa_event_window {
    __u64 last_sent_ns;      /* boot time of the last delivered event of this key */
    __u64 first_folded_ns;   /* boot time of the first refusal folded since (0: none) */
    __u32 folded;            /* refusals folded since the last delivered event */
    __u32 pad;
};

/* pa_event_stats: PERCPU_ARRAY, 1 entry, pinned as "event_stats" and kept
 * across applies. Every refusal (both kinds) counts in exactly one of:
 *   delivered   written to the ring buffer;
 *   suppressed  folded by the rate limit (reported later as pa_event.suppressed);
 *   dropped     the ring buffer was full (bpf_ringbuf_reserve failed): lost. */
struct pa_event_stats {
    __u64 delivered;
    __u64 suppressed;
    __u64 dropped;
};

/* pa_binders: SK_STORAGE (BPF_F_NO_PREALLOC), pinned as "binders" and kept
 * across applies, value struct pa_binder: who called bind(2) on a socket, written
 * by the bind hooks for every bind on a port that a reservation mentions,
 * whatever the verdict. portwatch reads it through sock_diag
 * (INET_DIAG_REQ_SK_BPF_STORAGES) to judge a socket by its binder, not by
 * its creator (a server that creates its socket as root, drops privileges,
 * then binds). Written only by the program of the generation the gate names;
 * a socket bound again (after a failed bind) keeps the last binder. sock_diag
 * returns it for TCP sockets only (inet_sk_diag_fill skips storage for
 * sockets without an inet_connection_sock); portwatch reads UDP sockets'
 * binders with a map lookup on a copy of a holder's fd (pidfd_getfd).
 * Behind the rodata switch pa_use_sk_storage: a kernel whose sock_addr
 * programs cannot call bpf_sk_storage_get gets a program without binders
 * (the engine clears the switch after a failed trial load; no "binders" pin).
 * Example: root creates a socket, setresuid(51000), binds udp/5060 ->
 *   { .uid = 51000, .gid = 51000, .ngroups = 0, .pid = <its pid> }. */
struct pa_binder {
    __u64 time_ns;      /* bpf_ktime_get_boot_ns() of the bind */
    __u32 pid;          /* thread group id */
    __u32 uid;          /* effective uid at bind(2) */
    __u32 gid;          /* effective gid at bind(2) */
    __u32 ngroups;      /* supplementary groups recorded in groups[] */
    __u32 groups[PA_MAX_GROUPS];   /* the lowest PA_MAX_GROUPS supplementary gids */
    __u32 generation;
    __u32 pad;
};

/* pa_rule_names: ARRAY, key = rule id, value = NUL-terminated origin of the
 * rule relative to the policy dir ("byport/80", "byuid/1001:2"). Written by
 * the engine, read by status and portwatch; never by the BPF program. */
struct pa_rule_name {
    char name[PA_RULE_NAME_LEN];
};

/* pa_gate: ARRAY, 1 entry, key 0 => __u32 generation. Pinned as `gate` and
 * shared by every generation's programs (the engine reuses the pinned map).
 * A program enforces only while the gate holds its own pa_generation and
 * lets every bind through otherwise. An apply attaches the new programs next
 * to the old ones (they run after them), then writes the new generation into
 * the gate: one map update switches bind4 and bind6 together, and a bind
 * meets the old policy, the new one, or - during the switch - both, whose
 * combined verdict is always one of the two. Then the old links go. */

/* What a loaded program uses (pa_meta.features): each optional feature the
 * engine found on the kernel and did not withhold. PA_FEATURES_RECORDED marks
 * a meta written by an engine that records them. */
#define PA_FEATURE_BPF_LOOP    0x01   /* else bounded loops */
#define PA_FEATURE_SET_RETVAL  0x02   /* else refusals fail with EPERM */
#define PA_FEATURE_SK_STORAGE  0x04   /* else no binders for portwatch */
#define PA_FEATURE_V6ONLY      0x08   /* else an IPv6 wildcard bind is dual-stack */
#define PA_FEATURES_RECORDED   0x80

/* pa_meta: ARRAY, 1 entry, written by the engine for status; never read by BPF. */
struct pa_meta {
    __u64 applied_at;        /* CLOCK_REALTIME seconds */
    __u64 netns_cookie;
    __u32 rule_count;
    __u32 generation;
    __u8 root_exempt;
    __u8 errno_is_eacces;    /* 1 when the kernel let us choose EACCES */
    __u8 features;           /* PA_FEATURE_* the loaded program uses; 0 from engines before them */
    __u8 pad[5];
    char policy_dir[256];
    char cgroup[256];
    __u64 netns_inode;       /* of the governed network namespace; 0 from engines before it */
};

#endif /* PORTAUTH_API_H */
