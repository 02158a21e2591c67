# idle-guest.py TESTDIR GUEST_SOCK N READY GO - open N connections through
# sockoutd (raw guest protocol, gpclient.py) to firehose.py, touch READY,
# read nothing until GO exists, then read 8 MiB from each: more than a
# shrunken window, more than the full one, so a stalled connection fails.
import os, socket, sys, time
sys.path.insert(0, sys.argv[1])
import gpclient as g
n = int(sys.argv[3])
cs = []
for i in range(n):
    r, fds = g.ask(sys.argv[2], g.CONNECT, "198.51.100.2", 7400)
    assert r and r[1] == 0, r
    cs.append(socket.socket(fileno=fds[0]))
open(sys.argv[4], "w").close()
while not os.path.exists(sys.argv[5]):
    time.sleep(0.05)
for c in cs:
    c.settimeout(20)
    got = 0
    while got < (8 << 20):
        d = c.recv(1 << 18)
        assert d, "EOF"
        got += len(d)
print("read 8 MiB from each of %d" % n)
