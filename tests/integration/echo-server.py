#!/usr/bin/env python3
# echo-server.py ADDR PORT [--hold] - a threaded TCP echo server for the
# dispatcher tests (with --hold it only keeps connections open, reading).
import socket, sys, threading

def serve(c, hold):
    try:
        while True:
            d = c.recv(1 << 18)
            if not d:
                break
            if not hold:
                c.sendall(d)
    except OSError:
        pass
    c.close()

s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4096)
hold = "--hold" in sys.argv
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c, hold), daemon=True).start()
