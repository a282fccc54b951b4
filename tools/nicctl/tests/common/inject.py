#!/usr/bin/env python3
"""A blind-injection attacker beside a real Linux TCP connection.

usage: inject.py TAP LOCAL REMOTE PORT [--bytes N] [--timeout T]
       inject.py TAP LOCAL REMOTE PORT --probe-flags CLOSED_PORT

Runs inside the namespace that holds TAP (the co-simulated NIC's wire).
Linux's own TCP connects from LOCAL to REMOTE:PORT (IPv4 or IPv6 by the
address) and sends N bytes of 'A'. Once the stack has acknowledged them, the
attacker writes two forged segments straight onto the TAP (AF_PACKET), each
with the connection's addresses and ports, SEQ = the stack's RCV.NXT (so the
sequence check passes), a payload and FIN:

  ahead   ACK = the stack's SND.NXT + 100: acknowledges data never sent
          (RFC 9293 section 3.10.7.4: drop it, send an ACK)
  behind  ACK = SND.NXT - 2**30: far below SND.UNA - MAX.SND.WND
          (RFC 5961 section 5.2: drop it, send an ACK)

After each it waits for the stack's answer on the wire and records its ACK
number. Then Linux sends N bytes of 'B' and closes. The last line on stdout
is a JSON report:
  {"rcv_nxt": R, "ahead_ack": A, "behind_ack": B}
where A and B are the ACK numbers the stack answered the forgeries with
(null if it did not answer within the timeout). The checksums of the forged
segments are right, so only the TCP rules can refuse them.

With --probe-flags, PORT is a listening port and CLOSED_PORT one nobody
listens on. After one real connection to PORT (to learn the stack's MAC), a
segment with no flags at all and one with FIN alone are written to each port
from a port of no connection, and every answer within 3 s is recorded:
  {"listen": [flags, ...], "closed": [flags, ...]}
RFC 9293 section 3.10.7.2: LISTEN drops both unanswered; section 3.10.7.1:
a closed port answers each with RST+ACK.
"""

import argparse
import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Tcp:
    """The fields of a captured TCP segment the attack needs."""

    def __init__(self, frame):
        self.ok = False
        if len(frame) < 14:
            return
        self.dst_mac, self.src_mac = frame[0:6], frame[6:12]
        et = struct.unpack("!H", frame[12:14])[0]
        if et == 0x0800 and len(frame) >= 34 and frame[23] == 6:
            ihl = (frame[14] & 15) * 4
            self.src, self.dst = frame[26:30], frame[30:34]
            total = struct.unpack("!H", frame[16:18])[0]
            l4 = 14 + ihl
            end = 14 + total
        elif et == 0x86DD and len(frame) >= 54 and frame[20] == 6:
            self.src, self.dst = frame[22:38], frame[38:54]
            l4 = 54
            end = 54 + struct.unpack("!H", frame[18:20])[0]
        else:
            return
        if len(frame) < l4 + 20:
            return
        (self.sport, self.dport, self.seq, self.ack, off, self.flags) = struct.unpack(
            "!HHIIBB", frame[l4 : l4 + 14]
        )
        self.plen = end - l4 - (off >> 4) * 4
        self.ok = True


def forge(v6, src_mac, dst_mac, src, dst, sport, dport, seq, ack, payload, flags=0x10 | 0x08 | 0x01):
    """A TCP segment in an Ethernet frame, checksums right; by default ACK, PSH and FIN."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    if v6:
        pseudo = src + dst + struct.pack("!IxxxB", len(tcp), 6)
    else:
        pseudo = src + dst + struct.pack("!xBH", 6, len(tcp))
    c = csum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    if v6:
        ip = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + src + dst
        et = 0x86DD
    else:
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), 0x1234, 0x4000, 64, 6, 0) + src + dst
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        et = 0x0800
    return dst_mac + src_mac + struct.pack("!H", et) + ip + tcp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tap")
    ap.add_argument("local")
    ap.add_argument("remote")
    ap.add_argument("port", type=int)
    ap.add_argument("--bytes", type=int, default=4000)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--probe-flags", type=int, metavar="CLOSED_PORT")
    a = ap.parse_args()
    if a.probe_flags is not None:
        probe_flags(a)
        return
    v6 = ":" in a.remote
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    local_b = socket.inet_pton(fam, a.local)
    remote_b = socket.inet_pton(fam, a.remote)

    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((a.tap, 0))
    conn = socket.socket(fam, socket.SOCK_STREAM)
    conn.bind((a.local, 0))
    lport = conn.getsockname()[1]
    conn.settimeout(a.timeout)
    conn.connect((a.remote, a.port))

    state = {"syn": None, "stack": None}

    def pump(until, deadline):
        """Reads frames of this connection until until(seg_from_stack) or the deadline."""
        while time.monotonic() < deadline:
            r, _, _ = select.select([raw], [], [], 0.2)
            if not r:
                continue
            frame, addr = raw.recvfrom(65535)
            t = Tcp(frame)
            if not t.ok:
                continue
            if addr[2] == PACKET_OUTGOING and t.sport == lport and t.dport == a.port:
                if t.flags & 0x02:
                    state["syn"] = t
                continue
            if t.sport == a.port and t.dport == lport and t.src == remote_b:
                state["stack"] = t
                if until(t):
                    return t
        return None

    # The SYN may have gone by before the socket saw it; the stack's ACKs carry the same count.
    conn.sendall(b"A" * a.bytes)
    deadline = time.monotonic() + a.timeout
    first = pump(lambda t: t.flags & 0x10 != 0, deadline)
    if first is None:
        print("the stack never answered on the wire", file=sys.stderr)
        sys.exit(1)
    # RCV.NXT once all of the 'A's are in: Linux's ISN + 1 + N. Linux's ISN is the stack's first
    # ACK minus what it acknowledged by then, so wait for an ACK covering everything.
    isn_plus1 = None
    if state["syn"] is not None:
        isn_plus1 = (state["syn"].seq + 1) & 0xFFFFFFFF
    target = None if isn_plus1 is None else (isn_plus1 + a.bytes) & 0xFFFFFFFF
    if target is None:
        print("no SYN captured; cannot tell RCV.NXT", file=sys.stderr)
        sys.exit(1)
    t = pump(lambda t: t.ack == target, deadline)
    if t is None:
        print(f"the stack never acknowledged all {a.bytes} bytes", file=sys.stderr)
        sys.exit(1)
    rcv_nxt = target
    snd_nxt = (t.seq + t.plen) & 0xFFFFFFFF
    report = {"rcv_nxt": rcv_nxt}
    for name, ack, payload in [
        ("ahead", (snd_nxt + 100) & 0xFFFFFFFF, b"FORGED-AHEAD-OF-SND-MAX"),
        ("behind", (snd_nxt - (1 << 30)) & 0xFFFFFFFF, b"FORGED-BELOW-SND-UNA"),
    ]:
        frame = forge(v6, t.dst_mac, t.src_mac, local_b, remote_b, lport, a.port, rcv_nxt, ack, payload)
        raw.send(frame)
        ans = pump(lambda s: s.flags & 0x10 != 0 and s.plen == 0, time.monotonic() + a.timeout)
        report[f"{name}_ack"] = None if ans is None else ans.ack
    conn.sendall(b"B" * a.bytes)
    conn.shutdown(socket.SHUT_WR)
    while conn.recv(65536):
        pass
    conn.close()
    print(json.dumps(report), flush=True)


def probe_flags(a):
    v6 = ":" in a.remote
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    local_b, remote_b = socket.inet_pton(fam, a.local), socket.inet_pton(fam, a.remote)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((a.tap, 0))
    # One real connection, so both MACs show on the wire.
    c = socket.create_connection((a.remote, a.port), timeout=a.timeout)
    macs = None
    deadline = time.monotonic() + a.timeout
    while macs is None and time.monotonic() < deadline:
        if select.select([raw], [], [], 0.2)[0]:
            frame, _ = raw.recvfrom(65535)
            t = Tcp(frame)
            if t.ok and t.src == remote_b and t.sport == a.port:
                macs = (t.dst_mac, t.src_mac)  # (ours, the stack's)
    c.close()
    if macs is None:
        print("no frame from the stack", file=sys.stderr)
        sys.exit(1)
    report = {}
    for name, port in [("listen", a.port), ("closed", a.probe_flags)]:
        answers = []
        for i, flags in enumerate([0x00, 0x01]):
            sport = 40000 + 10 * port % 20000 + i
            raw.send(forge(v6, macs[0], macs[1], local_b, remote_b, sport, port, 1000, 0, b"", flags))
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                if select.select([raw], [], [], 0.2)[0]:
                    frame, _ = raw.recvfrom(65535)
                    t = Tcp(frame)
                    if t.ok and t.src == remote_b and t.sport == port and t.dport == sport:
                        answers.append(t.flags)
        report[name] = answers
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
