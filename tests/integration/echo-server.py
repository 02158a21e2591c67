#!/usr/bin/env python3
# echo-server.py ADDR PORT [--hold | --sink FILE | --source FILE]
# A TCP server for the dispatcher tests: echo (default); --hold accepts,
# reads, discards and keeps connections open (one thread, selectors: fine
# for 10,000 connections); --sink writes what it receives to FILE, reading
# slowly (to make helpers push back); --source sends FILE and closes.
import selectors, socket, sys, threading, time

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
if "--sink" in sys.argv or "--source" in sys.argv:
    sink = "--sink" in sys.argv
    path = sys.argv[sys.argv.index("--sink" if sink else "--source") + 1]
    while True:
        c, _ = s.accept()
        if sink:
            with open(path + ".part", "wb") as f:
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        break
                    f.write(d)
                    time.sleep(0.002)
            import os
            os.rename(path + ".part", path)
        else:
            with open(path, "rb") as f:
                c.sendall(f.read())
        c.close()
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
