#!/usr/bin/env python3
# Writes fuzz/corpus/fuzz_sockdiag/: real sock_diag replies, one recv() each,
# as portwatch's dump_sockets and destroy_socket receive them. Run as root in
# a network namespace of its own, so only the sockets opened here show up:
#   sudo unshare -n python3 fuzz/make_sockdiag_corpus.py fuzz/corpus/fuzz_sockdiag
# The kernel adds attributes after each inet_diag_msg (which the parser skips)
# and fills inodes and cookies; rerunning changes those bytes, nothing else.
import os
import socket
import struct
import subprocess
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
SOCK_DESTROY = 21
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
TCP_STATES = 0x3FFF & ~((1 << 3) | (1 << 6) | (1 << 12) | 1)   # as sockdiag.cpp asks


def request(msg_type, flags, family, proto, states, sock_id=b"\0" * 48):
    body = struct.pack("=BBBBI", family, proto, 0, 0, states) + sock_id
    return struct.pack("=IHHII", 16 + len(body), msg_type, flags, 1, 0) + body


def ends_dump(chunk):
    off = 0
    while off + 16 <= len(chunk):
        length, ntype = struct.unpack_from("=IH", chunk, off)
        if ntype in (2, 3):   # NLMSG_ERROR, NLMSG_DONE
            return True
        if length < 16:
            return True
        off += (length + 3) & ~3
    return False


# The replies to one request, one recv() each: every chunk of a dump, or the one answer.
def ask(msg, dump):
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        nl.sendto(msg, (0, 0))
        chunks = [nl.recv(256 * 1024)]
        while dump and chunks[-1] and not ends_dump(chunks[-1]):
            chunks.append(nl.recv(256 * 1024))
        return chunks


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    held = []
    for family, addr, port in ((socket.AF_INET, "127.0.0.1", 0), (socket.AF_INET6, "::1", 0), (socket.AF_INET6, "::ffff:127.0.0.1", 2)):
        t = socket.socket(family, socket.SOCK_STREAM)
        t.bind((addr, 6000 + port))
        t.listen(4)
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.bind((addr, 5060 + port))
        held += [t, u]
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)   # bound, never listening
    bound.bind(("127.0.0.1", 6001))
    client = socket.create_connection(("127.0.0.1", 6000))       # an established pair
    server, _ = held[0].accept()
    held += [bound, client, server]

    seeds = {}
    for name, family, proto, states in (("tcp4", socket.AF_INET, socket.IPPROTO_TCP, TCP_STATES),
                                        ("tcp6", socket.AF_INET6, socket.IPPROTO_TCP, TCP_STATES),
                                        ("udp4", socket.AF_INET, socket.IPPROTO_UDP, 0xFFFFFFFF),
                                        ("udp6", socket.AF_INET6, socket.IPPROTO_UDP, 0xFFFFFFFF)):
        for i, chunk in enumerate(ask(request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, family, proto, states), True)):
            seeds[f"{name}-dump{i}"] = chunk
    # A protocol without a diag module answers with an error (ENOENT); an
    # unknown socket to SOCK_DESTROY too; a destroyed one with an ACK.
    seeds["error-noproto"] = ask(request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, socket.AF_INET, 253, 0xFFFFFFFF), True)[0]
    missing = struct.pack("!HH", 6999, 0) + socket.inet_aton("127.0.0.1") + b"\0" * 28 + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)
    seeds["error-destroy-missing"] = ask(request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, socket.AF_INET, socket.IPPROTO_TCP, 0xFFFFFFFF, missing), False)[0]
    listener = struct.pack("!HH", 6000, 0) + socket.inet_aton("127.0.0.1") + b"\0" * 28 + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)
    seeds["ack-destroy"] = ask(request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, socket.AF_INET, socket.IPPROTO_TCP, 0xFFFFFFFF, listener), False)[0]
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
