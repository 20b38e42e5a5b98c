"""Values across the sandbox boundary: the codec, the user-side server, the harness-side proxies.

Loaded by ``_sandbox_runner.py`` (same directory) before it chroots; no rldistill imports.
The user's process runs ``serve_user``: it executes the code, then answers ``call``/``get``
requests. The harness process runs the tests (``_sandbox_tests``), with the user's functions as
``Proxy`` objects. Only type-tagged JSON of plain builtin values crosses (exact types;
subclasses of builtin values travel as their plain base value; anything else is an opaque
``Handle`` whose equality is identity and whose truth is unknown; its attributes and methods
are fetched and called over the same channel), so nothing the user's code defines ever runs
in the harness, and the tests never exist in the user's process.
"""

import base64
import builtins
import json
import struct
import sys

MAX_FRAME = 16 << 20  # one RPC message between harness and user code
MAX_DEPTH = 64


# ---------------------------------------------------------------- codec


class Unencodable(Exception):
    pass


_BASES = (int, float, str, bytes, complex, list, tuple, dict, set, frozenset)


def encode(v, handles, depth=0):
    """Plain builtin values only, by exact type; anything else becomes a handle."""
    if depth > MAX_DEPTH:
        raise Unencodable("too deep")
    t = type(v)
    if v is None or t is bool or t is int or t is float or t is str:
        if t is float and v != v:
            return {"nan": 1}
        if t is float and v in (float("inf"), float("-inf")):
            return {"inf": 1 if v > 0 else -1}
        return v
    if t is list:
        return [encode(x, handles, depth + 1) for x in v]
    if t is tuple:
        return {"t": [encode(x, handles, depth + 1) for x in v]}
    if t is dict:
        return {"d": [[encode(k, handles, depth + 1), encode(x, handles, depth + 1)] for k, x in v.items()]}
    if t is set or t is frozenset:
        return {"s" if t is set else "f": [encode(x, handles, depth + 1) for x in v]}
    if t is complex:
        return {"c": [encode(v.real, handles), encode(v.imag, handles)]}
    if t is bytes:
        return {"b": base64.b64encode(v).decode()}
    if handles is None:
        if getattr(builtins, getattr(v, "__name__", ""), None) is v:
            return {"B": v.__name__}  # a builtin type or function passed as an argument (int, len)
        raise Unencodable(t.__name__)
    # Only in the user's process: subclasses of builtin values (Counter, defaultdict, namedtuple,
    # numpy floats) travel as their plain base value, so the harness never sees their methods.
    # An int subclass whose __eq__ always says True arrives as the plain int it holds.
    for base in _BASES:
        if isinstance(v, base):
            try:
                return encode(base(v), handles, depth + 1)
            except Exception:  # noqa: BLE001 - a conversion the object sabotages: a handle then
                break
    mod = t.__module__
    if mod in ("fractions", "decimal", "collections") and t.__name__ in ("Fraction", "Decimal", "deque"):
        return {"x": [t.__name__, str(v) if t.__name__ != "deque" else encode(list(v), handles, depth + 1)]}
    handles.append(v)
    return {"h": len(handles) - 1}


def decode(x, make_handle, names=None, depth=0):
    if depth > MAX_DEPTH:
        raise Unencodable("too deep")
    t = type(x)
    if x is None or t in (bool, int, float, str):
        return x
    if t is list:
        return [decode(y, make_handle, names, depth + 1) for y in x]
    if t is not dict or len(x) != 1:
        raise Unencodable("bad tag")
    (tag, y), = x.items()
    if tag == "t":
        return tuple(decode(z, make_handle, names, depth + 1) for z in y)
    if tag == "d":
        return {decode(k, make_handle, names, depth + 1): decode(z, make_handle, names, depth + 1) for k, z in y}
    if tag in ("s", "f"):
        items = [decode(z, make_handle, names, depth + 1) for z in y]
        return set(items) if tag == "s" else frozenset(items)
    if tag == "c":
        return complex(decode(y[0], make_handle), decode(y[1], make_handle))
    if tag == "b":
        return base64.b64decode(y)
    if tag == "nan":
        return float("nan")
    if tag == "inf":
        return float("inf") if y > 0 else float("-inf")
    if tag == "h" and type(y) is int:
        return make_handle(y)
    if tag == "p" and type(y) is str and names is not None and callable(names.get(y)):
        return names[y]  # one of the user's own functions, passed back by the harness
    if tag == "B" and type(y) is str:
        b = getattr(builtins, y, None)
        # The user's side may receive builtin functions (len); the harness only value types.
        if b in _BASES or b in (bool, type(None)) or (names is not None and isinstance(b, type(len))):
            return b
    if tag == "x" and type(y) is list and len(y) == 2 and y[0] in ("Fraction", "Decimal", "deque"):
        if y[0] == "deque":
            import collections

            return collections.deque(decode(y[1], make_handle, names, depth + 1))
        import decimal
        import fractions

        return (fractions.Fraction if y[0] == "Fraction" else decimal.Decimal)(str(y[1]))
    raise Unencodable("bad tag")


def send_frame(sock, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_FRAME:
        data = json.dumps({"exc": "MemoryError", "why": "result too large"}).encode()
    sock.sendall(struct.pack("<I", len(data)) + data)


def recv_frame(sock):
    head = _recv_exact(sock, 4)
    n = struct.unpack("<I", head)[0]
    if n > MAX_FRAME:
        raise Unencodable("frame too large")
    return json.loads(_recv_exact(sock, n))


class Frames:
    """The frames arriving on a stream socket, read with one ``recv`` per frame as a rule (a call
    is a round trip between two processes: its fixed costs are what a test with many calls pays)."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def recv(self):
        buf = self.buf
        while True:
            want = 4 - len(buf)
            if want <= 0:
                n = struct.unpack_from("<I", buf)[0]
                if n > MAX_FRAME:
                    raise Unencodable("frame too large")
                want = 4 + n - len(buf)
                if want <= 0:
                    data = bytes(buf[4:4 + n])
                    del buf[:4 + n]
                    return json.loads(data)
            chunk = self.sock.recv(max(want, 1 << 16))
            if not chunk:
                raise EOFError
            buf += chunk


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


# ---------------------------------------------------------------- the user side (untrusted once exec starts)


def serve_user(req, sock):
    """Run the user's code, then answer call/get requests. Everything here can be tampered with
    by the user's code; nothing it sends is more than a value it could have returned anyway."""
    g = {"__name__": "__solution__", "__builtins__": builtins}
    handles = []
    try:
        exec(compile(req["code"], "<solution>", "exec"), g)
        if req.get("setup"):
            exec(compile(req["setup"], "<setup>", "exec"), g)
    except BaseException as e:  # noqa: BLE001 - SystemExit in the user's code is a failure too
        send_frame(sock, {"load_error": type(e).__name__})
        return
    _flush()
    names = {}
    for k, v in list(g.items()):
        if k.startswith("__"):
            continue
        if type(v).__name__ == "module":
            names[k] = ["module", getattr(v, "__name__", "")]
        elif callable(v):
            names[k] = ["callable"]
        else:
            names[k] = ["value"]
    send_frame(sock, {"names": names})
    frames = Frames(sock)
    while True:
        try:
            msg = frames.recv()
        except (EOFError, OSError):
            return
        try:
            if msg["op"] == "get":
                out = g[msg["name"]]
            elif msg["op"] == "attr":  # an attribute of one of our objects (Solution().twoSum, node.val)
                out = getattr(handles[msg["handle"]], msg["name"])
            else:
                fn = g[msg["name"]] if "name" in msg else handles[msg["handle"]]
                args = decode(msg["args"], handles.__getitem__, g)
                kwargs = decode(msg["kwargs"], handles.__getitem__, g)
                out = fn(*args, **kwargs)
            reply = {"ok": encode(out, handles)}
        except BaseException as e:  # noqa: BLE001
            reply = {"exc": type(e).__name__}
        _flush()
        send_frame(sock, reply)


def _flush():
    # The user's stdout is a pipe (block-buffered) and the process is killed, not exited, at the
    # end: flush so the captured output is what the code printed.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------- the harness side (trusted)


class Handle:
    """An object that lives in the user's process. Equality is identity, so an object whose
    ``__eq__`` always says True, or an int subclass, compares equal to nothing here."""

    __slots__ = ("id", "_rpc")

    def __init__(self, i, rpc):
        self.id, self._rpc = i, rpc

    def __call__(self, *args, **kwargs):
        return self._rpc.call({"handle": self.id}, args, kwargs)

    def __repr__(self):
        return f"<object #{self.id} in the sandboxed process>"

    def __getattr__(self, name):
        # Fetched from the object in the user's process: a plain value, or another handle (a bound
        # method is a handle that can be called). Dunders are never asked for (the harness's own).
        if name.startswith("__") or name in Handle.__slots__:
            raise AttributeError(name)
        return self._rpc.attr(self.id, name)

    def __bool__(self):
        # Its truth is the object's own __bool__, in the user's process: never assume it. (Else a
        # solution returning object() would pass `assert f(x)` and `assertTrue(f(x))`.)
        raise TypeError("the truth value of an object of the sandboxed code is not known to the tests")


class Rpc:
    def __init__(self, sock):
        self.sock = sock
        self.frames = Frames(sock)

    def _handle(self, i):
        return Handle(i, self)

    def _enc(self, v):
        if isinstance(v, Handle):
            return {"h": v.id}
        if isinstance(v, Proxy):
            return {"p": v.name}
        if isinstance(v, (list, tuple, set, frozenset)) and any(isinstance(x, (Handle, Proxy)) for x in v):
            items = [self._enc(x) for x in v]
            return items if type(v) is list else {"t" if type(v) is tuple else "s": items}
        return encode(v, None)

    def call(self, target, args, kwargs):
        msg = dict(target, op="call", args=[self._enc(a) for a in args],
                   kwargs={"d": [[k, self._enc(v)] for k, v in kwargs.items()]})
        send_frame(self.sock, msg)
        return self._reply()

    def get(self, name):
        send_frame(self.sock, {"op": "get", "name": name})
        return self._reply()

    def attr(self, handle, name):
        send_frame(self.sock, {"op": "attr", "handle": handle, "name": name})
        try:
            return self._reply()
        except AttributeError:
            raise
        except Exception as e:  # noqa: BLE001 - hasattr() and getattr(x, n, default) expect AttributeError
            raise AttributeError(name) from e

    def _reply(self):
        r = self.frames.recv()
        if "ok" in r:
            return decode(r["ok"], self._handle)
        name = r.get("exc") if isinstance(r.get("exc"), str) else ""
        exc = getattr(builtins, name, None)
        if isinstance(exc, type) and issubclass(exc, Exception) and exc is not StopIteration:
            raise exc("raised in the sandboxed code")
        raise RuntimeError(f"{name[:40]} raised in the sandboxed code")


class Proxy:
    __slots__ = ("name", "rpc")

    def __init__(self, name, rpc):
        self.name, self.rpc = name, rpc

    def __call__(self, *args, **kwargs):
        return self.rpc.call({"name": self.name}, args, kwargs)

    def __repr__(self):
        return f"<sandboxed function {self.name}>"
