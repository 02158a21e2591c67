#!/usr/bin/env python3
"""bench/connect-profile.py - read one `strace -ff -ttt -T` directory made
by bench/connect-profile.sh and print the median connection's phases and
every system call of every process during it.

    connect-profile.py DIR NAME=PID...

DIR holds t.PID files; NAME=PID names the daemons' files, any other file
is the guest program (the one that calls socket(AF_INET)).
"""
import os
import re
import sys

LINE = re.compile(r"^(\d+\.\d+) (\w+)\((.*)\) += (.*?)(?: <(\d+\.\d+)>)?$")


def load(path):
    ev = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue  # signals, exits
            ts, name, args, ret, dur = m.groups()
            ev.append((float(ts), float(dur or 0), name, args, ret))
    return ev


def first_arg(args):
    return args.split(",", 1)[0].strip()


def connections(ev):
    """Cut the guest's calls into connections: socket(AF_INET) .. close.
    The shim's Unix socket to sockoutd is the process's channel, opened by
    the first request and used by the next ones (or, with channels off, a
    new one per request): the last one opened is the one in use."""
    out = []
    cur = None
    unix = None
    for i, (ts, dur, name, args, ret) in enumerate(ev):
        if name == "socket" and args.startswith("AF_INET,"):
            cur = {"fd": ret.split()[0], "start": ts, "unix": unix}
        if name == "socket" and args.startswith("AF_UNIX"):
            unix = ret.split()[0]
            if cur is not None:
                cur["unix"] = unix
            continue
        if cur is None:
            continue
        a0 = first_arg(args)
        if cur["unix"] and a0 == cur["unix"]:
            if name in ("connect",) and "req_conn" not in cur:
                cur["req_conn"] = ts + dur
            if name in ("sendto", "send", "sendmsg", "write"):
                cur["req_sent"] = ts + dur
            if name == "recvmsg" and "reply" not in cur:
                cur["reply"] = ts + dur
        elif a0 == cur["fd"]:
            if name == "setsockopt" and "TCP_NODELAY" in args:
                cur["connected"] = ts
            elif name == "read" and "connected" in cur:
                cur["byte"] = ts + dur
            elif name == "close" and "byte" in cur:
                cur["end"] = ts + dur
                out.append(cur)
                cur = None
    return out


def main():
    d = sys.argv[1]
    names = {}
    for a in sys.argv[2:]:
        n, p = a.split("=")
        names[p] = n
    files = {}
    for f in os.listdir(d):
        pid = f.rsplit(".", 1)[1]
        files[pid] = load(os.path.join(d, f))
    guest = [p for p in files if p not in names and
             any(e[2] == "socket" and e[3].startswith("AF_INET,")
                 for e in files[p])]
    if not guest:
        print("no guest connections traced")
        return 1
    conns = [c for c in connections(files[guest[0]])
             if {"req_sent", "reply", "connected", "byte"} <= c.keys()]
    if len(conns) < 2:
        print("too few complete connections traced (%d)" % len(conns))
        return 1
    # the first pays for lazy symbol lookups and first-touch; leave it out
    conns = sorted(conns[1:], key=lambda c: c["end"] - c["start"])
    c = conns[len(conns) // 2]
    us = lambda t: (t - c["start"]) * 1e6
    marks = [("socket(), the shim's checks, request sent (on the channel)",
              c["req_sent"]),
             ("sockoutd (and helper): request -> reply with the fd",
              c["reply"]),
             ("shim: adopt the fd (dup3, flags, options), connect() returns",
              c["connected"]),
             ("first byte's round trip", c["byte"]),
             ("close()", c["end"])]
    total = us(c["end"])
    print("phase                                                          us  share")
    prev = 0.0
    for label, t in marks:
        print("%-58s %8.1f  %4.0f%%" % (label, us(t) - prev,
                                        100 * (us(t) - prev) / total))
        prev = us(t)
    print("%-58s %8.1f" % ("total (traced)", total))
    print()
    print("every system call in that connection (start us, process, call, "
          "duration us):")
    rows = []
    for pid, ev in files.items():
        who = names.get(pid, "guest")
        for ts, dur, name, args, ret in ev:
            if c["start"] <= ts <= c["end"]:
                rows.append((ts, who, name, args, ret, dur))
    rows.sort()
    per = {}
    for ts, who, name, args, ret, dur in rows:
        call = "%s(%s) = %s" % (name, args, ret)
        if len(call) > 72:
            call = call[:69] + "..."
        print("%8.1f  %-13s %-72s %7.1f" % (us(ts), who, call, dur * 1e6))
        n, t = per.get(who, (0, 0.0))
        per[who] = (n + 1, t + dur * 1e6)
    print()
    for who, (n, t) in sorted(per.items()):
        print("%-13s %3d system calls, %7.1f us inside them" % (who, n, t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
