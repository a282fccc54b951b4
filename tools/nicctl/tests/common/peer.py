#!/usr/bin/env python3
"""A TCP peer for the stack tests: Linux's own TCP, driven from a test.

usage: peer.py MODE (listen|connect) ADDR PORT [--bytes N] [--seed S] [--after N] [--timeout T]

MODE
  sink    read to EOF
  source  send --bytes N bytes of seeded pseudo-random data, shut down the
          write side, then read until the other side closes
  rst     read --after N bytes, then close with SO_LINGER {1, 0}: the other
          side gets a reset instead of a FIN

listen accepts one connection (after printing "listening ADDR PORT");
connect retries a refused connection until --timeout. IPv4 or IPv6 by the
address. The last line on stdout is the report:
  bytes=<moved> sha256=<hex of the bytes moved> [error=<exception name>] [rst=1]
where an error (e.g. ConnectionResetError when the other side resets) is a
result, not a crash: the exit status is 0 whenever a report was printed.
"""

import argparse
import hashlib
import random
import socket
import struct
import sys
import time

CHUNK = 65536


def connect(args):
    family = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    if args.role == "listen":
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((args.addr, args.port))
        srv.listen(1)
        srv.settimeout(args.timeout)
        print(f"listening {args.addr} {args.port}", flush=True)
        conn, _ = srv.accept()
        srv.close()
        return conn
    deadline = time.monotonic() + args.timeout
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(args.timeout)
        try:
            s.connect((args.addr, args.port))
            return s
        except ConnectionRefusedError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def read_all(conn, digest, limit=None):
    moved = 0
    while limit is None or moved < limit:
        want = CHUNK if limit is None else min(CHUNK, limit - moved)
        data = conn.recv(want)
        if not data:
            break
        digest.update(data)
        moved += len(data)
    return moved


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sink", "source", "rst"])
    p.add_argument("role", choices=["listen", "connect"])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--after", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()

    digest = hashlib.sha256()
    moved = 0
    extra = ""
    conn = None
    try:
        conn = connect(args)
        if args.mode == "sink":
            moved = read_all(conn, digest)
        elif args.mode == "source":
            rng = random.Random(args.seed)
            while moved < args.bytes:
                data = rng.randbytes(min(CHUNK, args.bytes - moved))
                conn.sendall(data)
                digest.update(data)
                moved += len(data)
            conn.shutdown(socket.SHUT_WR)
            read_all(conn, hashlib.sha256())  # until the other side closes (or resets)
        else:
            moved = read_all(conn, digest, args.after)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            extra = " rst=1"
    except OSError as e:
        extra = f" error={type(e).__name__}"
    finally:
        if conn is not None:
            conn.close()
    print(f"bytes={moved} sha256={digest.hexdigest()}{extra}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
