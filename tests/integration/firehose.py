# firehose.py - a server on 198.51.100.2:7400 that sends to every client
# without end (1 MiB writes), for the memory-bound tests (52, 66): whoever
# buffers what the guest does not read shows it in its RSS.
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 7400))
s.listen(128)
blob = b"z" * (1 << 20)
def pour(c):
    try:
        while True:
            c.sendall(blob)
    except OSError:
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=pour, args=(c,), daemon=True).start()
