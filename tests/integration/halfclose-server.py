# halfclose-server.py FILE OUT - the server of tests 53 and 54 on 198.51.100.2:
# 7001: send FILE, half-close, read the peer's bytes to EOF and write their
# sha256 to OUT (atomically); 7002: send 1 MiB, then reset.
import hashlib, os, socket, struct, sys, threading
src, out = sys.argv[1], sys.argv[2]
def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.51.100.2", port))
    s.listen(8)
    return s
def first(s):
    c, _ = s.accept()
    with open(src, "rb") as f:
        c.sendall(f.read())
    c.shutdown(socket.SHUT_WR)
    h = hashlib.sha256()
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
    c.close()
    with open(out + ".tmp", "w") as f:
        f.write(h.hexdigest() + "\n")
    os.rename(out + ".tmp", out)
def reset(s):
    while True:
        c, _ = s.accept()
        c.sendall(b"r" * (1 << 20))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
a, b = listener(7001), listener(7002)
threading.Thread(target=reset, args=(b,), daemon=True).start()
while True:
    first(a)
