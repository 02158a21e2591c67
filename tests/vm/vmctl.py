#!/usr/bin/python3
# tests/vm/vmctl.py - the host side of tests/vm/agent.py.
#
#   vmctl.py [--timeout S] [--pid QEMU_PID] DIR -- SHELL_COMMAND
#
# Runs SHELL_COMMAND (bash -c) inside the VM whose QEMU serves the FIFOs
# DIR/agent.in (host to guest) and DIR/agent.out (guest to host); standard
# input is passed to the command, its stdout and stderr come back on ours,
# and we exit with its status.  125 means the agent could not run it,
# 124 the command timed out inside the VM, 123 no reply in time (or QEMU
# died: --pid).  Clients take DIR/agent.lock in turn: the agent answers one
# request at a time and replies carry the request's id, so a reply left
# over by a client that gave up is skipped, never taken for ours.
import argparse
import base64
import fcntl
import json
import os
import select
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--pid", type=int, default=0)
    # REMAINDER takes everything after DIR: options go before it.
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")
    stdin = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()
    deadline = time.monotonic() + a.timeout + 10  # the agent's own timeout first

    lock = open(os.path.join(a.dir, "agent.lock"), "a")
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                print("vmctl: agent busy (lock) until the deadline", file=sys.stderr)
                return 123
            time.sleep(0.1)

    rid = "%d-%d" % (os.getpid(), time.monotonic_ns())
    req = json.dumps({"id": rid, "cmd": " ".join(cmd), "timeout": a.timeout,
                      "stdin": base64.b64encode(stdin).decode()}).encode() + b"\n"
    # QEMU holds both FIFOs open read-write: neither open blocks.
    rd = os.open(os.path.join(a.dir, "agent.out"), os.O_RDONLY | os.O_NONBLOCK)
    wr = os.open(os.path.join(a.dir, "agent.in"), os.O_WRONLY)
    _write_all(wr, req)
    os.close(wr)
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("vmctl: no reply from the VM agent in %.0fs" % (a.timeout + 10), file=sys.stderr)
            return 123
        r, _, _ = select.select([rd], [], [], min(left, 1.0))
        if a.pid and not os.path.exists("/proc/%d" % a.pid):
            print("vmctl: QEMU (pid %d) is gone" % a.pid, file=sys.stderr)
            return 123
        if not r:
            continue
        try:
            chunk = os.read(rd, 1 << 20)
        except BlockingIOError:
            continue
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                rep = json.loads(line)
            except ValueError:
                continue
            if rep.get("id") != rid:
                continue  # a reply to a client that gave up
            sys.stdout.buffer.write(base64.b64decode(rep.get("out", "")))
            sys.stdout.flush()
            sys.stderr.buffer.write(base64.b64decode(rep.get("err", "")))
            sys.stderr.flush()
            return int(rep.get("rc", 125))


def _write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


if __name__ == "__main__":
    sys.exit(main())
