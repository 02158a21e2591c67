#!/usr/bin/python3
# tests/vm/agent.py - runs inside the test VM (baked into the image by
# tests/vm/image, started by vm-agent.service) and executes the host's
# commands.  The host reaches it over a virtio-serial port that QEMU backs
# with a pair of FIFOs (tests/vm/vm.sh); a FIFO never "disconnects", so the
# port stays open for the guest however many host clients come and go.
#
# One request per line, JSON: {"id": N, "cmd": "SHELL", "timeout": S,
# "stdin": BASE64}.  One reply per request, JSON on one line: {"id": N,
# "rc": RC, "out": BASE64, "err": BASE64}; rc 124 is a timeout (the
# command's whole process group is killed).  Output goes to files, not
# pipes, so a command that leaves a daemon behind does not hold the reply.
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile

PORT = "/dev/virtio-ports/org.sockout.agent.0"
MAX_LINE = 64 << 20  # a request carries at most a file of a few MiB


def b64(data):
    return base64.b64encode(data).decode()


def run(req):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as inp:
        inp.write(base64.b64decode(req.get("stdin", "")))
        inp.seek(0)
        p = subprocess.Popen(["/bin/bash", "-c", req["cmd"]], stdin=inp,
                             stdout=out, stderr=err, start_new_session=True,
                             cwd="/root")
        try:
            rc = p.wait(timeout=float(req.get("timeout", 60)))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = 124
        out.seek(0)
        err.seek(0)
        return {"rc": rc, "out": b64(out.read()), "err": b64(err.read())}


def main():
    # A virtio-serial port opens once (a second open is EBUSY): one fd
    # for both directions.
    fd = os.open(PORT, os.O_RDWR)
    buf = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            # The port reads EOF only while no host side is attached, which
            # the FIFO backend never is; exit and let systemd restart us.
            sys.exit(1)
        buf += chunk
        if len(buf) > MAX_LINE:
            buf = b""
            continue
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                req = json.loads(line)
                rep = run(req)
                rep["id"] = req.get("id")
            except (ValueError, KeyError, TypeError, OSError) as e:
                rep = {"id": None, "rc": 125, "out": "", "err": b64(str(e).encode())}
            data = json.dumps(rep).encode() + b"\n"
            while data:
                data = data[os.write(fd, data):]


if __name__ == "__main__":
    main()
