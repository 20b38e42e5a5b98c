"""The harness's work for one run (process ``H`` of ``_sandbox_runner``): read the spec, run the
tests (``_sandbox_tests``) or feed the stdin/stdout cases, write one record per test.

Loaded by ``_sandbox_runner.py`` (same directory) before it chroots; no rldistill imports. The
spec arrives only now, from the parent, on a pipe the user's process never held; the records
leave on another (each with the run's nonce, and for a function test whether it ran and
passed); the verdict is computed outside by the parent (``verifiers.program``).
"""

import json
import os
import socket

from _sandbox_rpc import Rpc, recv_frame
from _sandbox_tests import run_function_tests


def _read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def harness_run(req, sock, res_w, spec_r):
    """One run: the spec from ``spec_r``, the user's process on ``sock``, the records to ``res_w``."""
    spec = json.loads(_read_all(spec_r))  # only now: the user's process never held the tests
    nonce = spec["nonce"]

    lines = []

    def record(obj):
        obj["nonce"] = nonce
        lines.append(json.dumps(obj) + "\n")

    if req["mode"] == "stdio":
        for i, text in enumerate(spec["inputs"]):
            out, status = stdio_case(req, text, sock)
            record({"i": i, "out": out.decode("utf-8", "replace"), "status": status})
    else:
        results = run_function_tests(spec, Rpc(sock))
        for i, (ok, err, ran) in enumerate(results):
            record({"i": i, "ok": ok, "err": err, "ran": ran})
    record({"done": True})
    data = "".join(lines).encode()  # one write: the parent wakes once
    while data:
        data = data[os.write(res_w, data):]


def stdio_case(req, text, sock):
    """Have U fork one user process; feed it ``text``; return its capped stdout and exit status."""
    import selectors

    cap = int(req["out_cap"])
    try:
        sock.sendall(b"c")
        _, fds, _, _ = socket.recv_fds(sock, 1, 2)
    except OSError:
        fds = []
    if len(fds) != 2:  # U is gone: the case fails
        return b"", -1
    in_w, out_r = fds
    data = text.encode()
    out = bytearray()
    sel = selectors.DefaultSelector()
    os.set_blocking(in_w, False)
    sel.register(out_r, selectors.EVENT_READ)
    if data:
        sel.register(in_w, selectors.EVENT_WRITE)
    else:
        os.close(in_w)
    while sel.get_map():
        for key, _ in sel.select():
            if key.fd == in_w:
                try:
                    data = data[os.write(in_w, data[: 1 << 16]):]
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(in_w)
                    os.close(in_w)
            else:
                b = os.read(out_r, 1 << 16)
                if not b or len(out) > cap:
                    sel.unregister(out_r)
                    os.close(out_r)
                else:
                    out += b
    sel.close()
    try:
        status = recv_frame(sock)["status"]
    except Exception:  # noqa: BLE001
        status = -1
    return bytes(out[:cap]), status
