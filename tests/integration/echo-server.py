#!/usr/bin/env python3
# echo-server.py ADDR PORT [--hold] - a TCP echo server for the dispatcher
# tests.  With --hold it only accepts, reads and discards, and keeps
# connections open (one thread, selectors: fine for 10,000 connections).
import selectors, socket, sys, threading

def serve(c):
    try:
        while True:
            d = c.recv(1 << 18)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()

s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4096)
if "--hold" not in sys.argv:
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is s:
            c, _ = s.accept()
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
        else:
            try:
                d = key.fileobj.recv(65536)
            except OSError:
                d = b""
            if not d:
                sel.unregister(key.fileobj)
                key.fileobj.close()
