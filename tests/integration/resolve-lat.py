#!/usr/bin/env python3
# resolve-lat.py - latency figures for the resolve tests (printed, not judged)
#
#   resolve-lat.py gai TAG NAME N     getaddrinfo(NAME) N times; NAME may hold
#                                     %d (a fresh name each time)
#   resolve-lat.py get TAG HOST PORT N   getaddrinfo + connect + HTTP/1.0 GET /
#                                     + whole answer, N times
# Prints "TAG median X us p90 Y us (N)".
import socket
import sys
import time


def one_get(host, port):
    ai = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    s = socket.create_connection(ai[0][4], timeout=20)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(65536):
        pass
    s.close()


def main():
    mode, tag = sys.argv[1], sys.argv[2]
    ts = []
    if mode == "gai":
        name, n = sys.argv[3], int(sys.argv[4])
        for i in range(n):
            h = name % i if "%d" in name else name
            t = time.perf_counter()
            socket.getaddrinfo(h, 80, socket.AF_INET, socket.SOCK_STREAM)
            ts.append(time.perf_counter() - t)
    else:
        host, port, n = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        for _ in range(n):
            t = time.perf_counter()
            one_get(host, port)
            ts.append(time.perf_counter() - t)
    ts.sort()
    print("%s median %.0f us p90 %.0f us (%d)" % (tag, ts[len(ts) // 2] * 1e6,
                                                   ts[len(ts) * 9 // 10] * 1e6, len(ts)))


main()
