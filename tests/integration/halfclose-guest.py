# halfclose-guest.py GPCLIENT_DIR GUEST_SOCK PORT FILE - the guest of tests 53
# and 54: CONNECT through sockoutd, read to EOF (sha256 to stdout; "reset
# after N bytes" on a reset), then send FILE, half-close, and wait for
# the server's close.
import hashlib, socket, sys
sys.path.insert(0, sys.argv[1])
import gpclient as g
r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", int(sys.argv[3]))
assert r and r[1] == 0, r
c = socket.socket(fileno=fds[0])
h, n = hashlib.sha256(), 0
try:
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
except ConnectionResetError:
    print("reset after %d bytes" % n)
    sys.exit(0)
print(h.hexdigest())
with open(sys.argv[4], "rb") as f:
    c.sendall(f.read())
c.shutdown(socket.SHUT_WR)
assert c.recv(1) == b"", "data after the server's EOF"
c.close()
