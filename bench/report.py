#!/usr/bin/env python3
"""bench/report.py - the table at the end of `make bench`.

    report.py FIGURES HISTORY REV

FIGURES is this run's figures (bench/lib.sh `figure`: name, value, op,
target, tab-separated).  HISTORY (build/bench-history.tsv) keeps every run:
one line per figure, "date, git rev, figure, value".  The table shows each
figure with its target, met / NOT met, and the value the same figure had in
the previous run that measured it, so that a regression shows; then this
run is appended to HISTORY.
"""
import os
import sys
import time


def verdict(value, op, target):
    if target == "-":
        return "info"
    try:
        v, t = float(value), float(target)
    except ValueError:
        return "NOT met"
    return "met" if (v >= t if op == ">=" else v <= t) else "NOT met"


def main():
    figs_path, hist_path, rev = sys.argv[1:4]
    figs = []
    if os.path.exists(figs_path):
        with open(figs_path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) == 4:
                    figs.append(p)
    prev = {}  # figure -> (date, rev, value) of its latest earlier run
    if os.path.exists(hist_path):
        with open(hist_path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) == 4 and not line.startswith("#"):
                    prev[p[2]] = (p[0], p[1], p[3])
    w = max([len(f[0]) for f in figs] + [6])
    vw = max([len(f[1]) for f in figs] + [9])
    hdr = "%-*s %*s %9s  %-8s %s" % (w, "figure", vw, "value", "target",
                                      "verdict", "previous run")
    print(hdr)
    print("-" * len(hdr))
    met = notmet = 0
    for name, value, op, target in figs:
        v = verdict(value, op, target)
        met += v == "met"
        notmet += v == "NOT met"
        t = "-" if target == "-" else "%s %s" % (op, target)
        pv = prev.get(name)
        p = "%s (%s, %s)" % (pv[2], pv[0], pv[1]) if pv else "(none)"
        print("%-*s %*s %9s  %-8s %s" % (w, name, vw, value, t, v, p))
    print("%d met, %d NOT met" % (met, notmet))
    date = time.strftime("%Y-%m-%dT%H:%M:%S")
    new = not os.path.exists(hist_path)
    with open(hist_path, "a") as f:
        if new:
            f.write("# date\tgit rev\tfigure\tvalue\n")
        for name, value, _, _ in figs:
            f.write("%s\t%s\t%s\t%s\n" % (date, rev, name, value))


if __name__ == "__main__":
    main()
