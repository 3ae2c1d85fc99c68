#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A small client for ringcached's versioning extension (text protocol).

ringcached keeps every concurrent version ("sibling") of a key together
with a causal context, Dynamo style.  A stock memcached client only ever
sees the dominant sibling; this module speaks the extension commands of
doc/protocol-extension.txt (section 2) so that an application can see all
siblings, merge them, and write the merge back with the context it read:

    vget <key> [<key> ...]      -> VERSIONS / SIBLING blocks
    vset <key> <flags> <exptime> <bytes> <context>
    vdel <key> <context>

Standard library only; one TCP (or unix socket) connection per Client.
A Client is not thread-safe: give each thread its own.

Usage::

    from ringcached_client import Client

    with Client("127.0.0.1", 11211) as c:
        nlive, ctx = c.put("cart", b"apple", "-")     # "-": empty context
        found = c.get_versions("cart")                # None when missing
        siblings, ctx = found                         # [(flags, value, ms)]
        nlive, ctx = c.put("cart", b"apple,pears", ctx)

        # read-resolve-write: merge every sibling, apply a change, write
        # with the context of the read; loop while concurrent writes
        # leave siblings behind.
        def union(values):
            items = set()
            for v in values:
                items.update(x for x in v.split(b",") if x)
            return b",".join(sorted(items))
        c.update("cart", union, modify=lambda v: union([v, b"banana"]))

Errors: a reply line "CLIENT_ERROR ..." raises ClientError, "SERVER_ERROR
..." raises ServerError, a bare "ERROR" raises CommandError; each carries
the server's line in .line.  Two common cases have their own subclasses:
BadContext ("CLIENT_ERROR bad context") and TooManySiblings
("SERVER_ERROR too many siblings").  A reply the client cannot parse, a
closed connection or a timeout raise ConnectionError_ (socket.timeout is
converted), after which the Client is closed: replies could be out of
step.

Contexts are opaque strings: keep them as received and give them back for
the same key.  "-" (or None) is the empty context, which supersedes
nothing: a write with it becomes one more sibling.

Command line (for poking at a server by hand)::

    python3 ringcached_client.py --port 11211 vget cart
    python3 ringcached_client.py --port 11211 vset cart apple [CONTEXT]
    python3 ringcached_client.py --port 11211 vdel cart CONTEXT
    python3 ringcached_client.py --port 11211 get cart
"""

import argparse
import collections
import socket
import sys

__all__ = [
    "Client", "Sibling", "Versions", "RingcachedError", "ClientError",
    "ServerError", "CommandError", "BadContext", "TooManySiblings",
    "ConnectionError_", "EMPTY_CONTEXT",
]

EMPTY_CONTEXT = "-"
MAX_KEY_LEN = 250

Sibling = collections.namedtuple("Sibling", "flags value wtime_ms")
Sibling.__doc__ = """One live sibling: client flags (int), value (bytes) and
its write time in Unix milliseconds (int)."""

Versions = collections.namedtuple("Versions", "siblings context")
Versions.__doc__ = """The result of a versioned read: the live siblings,
dominant first (a list of Sibling, empty when every sibling is a
tombstone), and the object's context (str)."""


class RingcachedError(Exception):
    """Base of every error this module raises.  .line is the server's reply
    line (without \\r\\n) when there is one, else None."""

    def __init__(self, message, line=None):
        Exception.__init__(self, message)
        self.line = line


class CommandError(RingcachedError):
    """The server answered a bare "ERROR" (unknown command or bad syntax)."""


class ClientError(RingcachedError):
    """The server answered "CLIENT_ERROR <reason>"."""


class BadContext(ClientError):
    """"CLIENT_ERROR bad context": the context was refused; nothing was
    written."""


class ServerError(RingcachedError):
    """The server answered "SERVER_ERROR <reason>"."""


class TooManySiblings(ServerError):
    """"SERVER_ERROR too many siblings": the write would exceed the node's
    --max-siblings; nothing was written.  Read and resolve, then retry."""


class ConnectionError_(RingcachedError):
    """The connection failed, timed out, was closed, or the reply could not
    be parsed.  The Client is closed when this is raised."""


def _error_for(line):
    """Maps an error reply line (str, no \\r\\n) to an exception, or None."""
    if line == "ERROR":
        return CommandError("server: ERROR", line)
    if line.startswith("CLIENT_ERROR"):
        if line == "CLIENT_ERROR bad context":
            return BadContext(line, line)
        return ClientError(line, line)
    if line.startswith("SERVER_ERROR"):
        if line == "SERVER_ERROR too many siblings":
            return TooManySiblings(line, line)
        return ServerError(line, line)
    return None


def _to_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError("value must be bytes or str, not %s" % type(value).__name__)


def _check_key(key):
    k = _to_bytes(key)
    if not k or len(k) > MAX_KEY_LEN:
        raise ValueError("key must be 1 to %d bytes" % MAX_KEY_LEN)
    if any(b <= 32 or b == 127 for b in k):
        raise ValueError("key must not contain spaces or control bytes")
    return k


def _check_context(context):
    if context is None:
        return EMPTY_CONTEXT.encode("ascii")
    c = context.encode("ascii") if isinstance(context, str) else bytes(context)
    if not c or any(b <= 32 or b >= 127 for b in c):
        raise ValueError("a context is one printable token")
    return c


class Client(object):
    """One connection to a ringcached node.

    Client(host="127.0.0.1", port=11211, unix_path=None, timeout=5.0)

    timeout (seconds) bounds the connect and every single read or write;
    a reply that does not arrive in time raises ConnectionError_.
    The connection is opened lazily by the first command (or connect()).
    """

    def __init__(self, host="127.0.0.1", port=11211, unix_path=None,
                 timeout=5.0):
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.timeout = timeout
        self._sock = None
        self._buf = b""
        self.last_update_writes = 0

    # ------------------------------------------------------------ plumbing
    def connect(self):
        """Opens the connection (no-op if already open)."""
        if self._sock is not None:
            return
        try:
            if self.unix_path:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                s.connect(self.unix_path)
            else:
                s = socket.create_connection((self.host, self.port),
                                             timeout=self.timeout)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise ConnectionError_("connect failed: %s" % e)
        self._sock = s
        self._buf = b""

    def close(self):
        """Closes the connection; a later command reconnects."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf = b""

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _fail(self, message):
        self.close()
        raise ConnectionError_(message)

    def _send(self, data):
        self.connect()
        try:
            self._sock.sendall(data)
        except (OSError, socket.timeout) as e:
            self._fail("send failed: %s" % e)

    def _fill(self):
        try:
            chunk = self._sock.recv(262144)
        except socket.timeout:
            self._fail("timed out waiting for the server")
        except OSError as e:
            self._fail("receive failed: %s" % e)
        if not chunk:
            self._fail("connection closed by the server")
        self._buf += chunk

    def _readline(self):
        """One reply line as str, without \\r\\n."""
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line = self._buf[:i]
                self._buf = self._buf[i + 2:]
                return line.decode("latin-1")
            if len(self._buf) > 1 << 20:
                self._fail("reply line too long")
            self._fill()

    def _readexact(self, n):
        while len(self._buf) < n:
            self._fill()
        data = self._buf[:n]
        self._buf = self._buf[n:]
        return data

    def _read_block(self, n):
        data = self._readexact(n + 2)
        if data[n:] != b"\r\n":
            self._fail("data block not terminated by \\r\\n")
        return data[:n]

    def _raise_if_error(self, line):
        err = _error_for(line)
        if err is not None:
            raise err

    def _unexpected(self, line):
        self._fail("unexpected reply: %r" % line)

    # ------------------------------------------------------------ extension
    def get_versions_multi(self, keys):
        """vget for several keys in one command.

        Returns a list of (key str, Versions) in the order the server
        answered (the order asked; missing keys are left out; a key asked
        twice is answered twice)."""
        ks = [_check_key(k) for k in keys]
        if not ks:
            raise ValueError("at least one key")
        self._send(b"vget " + b" ".join(ks) + b"\r\n")
        out = []
        while True:
            line = self._readline()
            if line == "END":
                return out
            parts = line.split(" ")
            if parts[0] != "VERSIONS":
                self._raise_if_error(line)
                self._unexpected(line)
            if len(parts) != 4 or not parts[2].isdigit():
                self._unexpected(line)
            key, n, ctx = parts[1], int(parts[2]), parts[3]
            sibs = []
            for _ in range(n):
                sl = self._readline()
                sp = sl.split(" ")
                if len(sp) != 4 or sp[0] != "SIBLING" or \
                        not all(x.isdigit() for x in sp[1:]):
                    self._unexpected(sl)
                data = self._read_block(int(sp[2]))
                sibs.append(Sibling(int(sp[1]), data, int(sp[3])))
            out.append((key, Versions(sibs, ctx)))

    def get_versions(self, key):
        """vget one key.

        Returns Versions(siblings, context), siblings being a list of
        Sibling(flags, value bytes, wtime_ms), dominant first; or None
        when the key is missing, expired or flushed.  A deleted key whose
        siblings are all tombstones returns ([], context): writing with
        that context overwrites the delete knowingly."""
        res = self.get_versions_multi([key])
        if not res:
            return None
        return res[0][1]

    def put(self, key, value, context=EMPTY_CONTEXT, flags=0, exptime=0,
            noreply=False):
        """vset: writes value as a new sibling superseding exactly what
        context covers.  context is a token from a previous read or write
        of this key, or "-"/None for the empty context.

        Returns (nlive, new context): the number of live siblings after
        the write (1 when nothing concurrent arrived) and the object's new
        context.  With noreply=True returns None and errors are not seen.
        Raises BadContext, TooManySiblings, ServerError, ..."""
        k = _check_key(key)
        v = _to_bytes(value)
        c = _check_context(context)
        line = b"vset %s %d %d %d %s%s\r\n" % (
            k, int(flags), int(exptime), len(v), c,
            b" noreply" if noreply else b"")
        self._send(line + v + b"\r\n")
        if noreply:
            return None
        r = self._readline()
        parts = r.split(" ")
        if parts[0] == "STORED" and len(parts) == 3 and parts[1].isdigit():
            return int(parts[1]), parts[2]
        self._raise_if_error(r)
        self._unexpected(r)

    def delete(self, key, context, noreply=False):
        """vdel: adds a tombstone superseding exactly what context covers.

        Returns (nlive, new context), nlive being the live siblings that
        remain (0 when the context covered them all), or None when the
        node holds no object for the key (NOT_FOUND).  For a plain,
        context-free delete use plain_delete()."""
        k = _check_key(key)
        c = _check_context(context)
        self._send(b"vdel %s %s%s\r\n" % (k, c, b" noreply" if noreply else b""))
        if noreply:
            return None
        r = self._readline()
        if r == "NOT_FOUND":
            return None
        parts = r.split(" ")
        if parts[0] == "DELETED" and len(parts) == 3 and parts[1].isdigit():
            return int(parts[1]), parts[2]
        self._raise_if_error(r)
        self._unexpected(r)

    def update(self, key, merge, modify=None, default=None, flags=0,
               exptime=0, retries=10, resolve_concurrent=True):
        """Read-resolve-write.

        Reads every sibling of key, calls merge(list of values) -> value
        (the application's resolution; with one sibling it is called with
        a one-element list), applies modify(value) -> value when given
        (the change this update makes), and writes the result with the
        context of the read, so it supersedes exactly what was read.

        When the key is missing (or all siblings are tombstones), merge
        gets [default] if default is not None, else [].  If merge or
        modify returns None, nothing is written and None is returned.

        If the write reports more than one live sibling (a concurrent
        write arrived between the read and the write), and
        resolve_concurrent is true, reads again and writes merge(values)
        (without modify: the change is already in one of the siblings),
        up to `retries` more round trips.  A TooManySiblings refusal is
        handled the same way: re-read, resolve, retry.

        Returns (value written, nlive, context) of the last write.  The
        number of writes it made is left in self.last_update_writes (more
        than 1 when concurrent writes had to be resolved)."""
        self.last_update_writes = 0
        change_done = False
        attempts = 0
        written = None
        while True:
            attempts += 1
            found = self.get_versions(key)
            if found is None:
                values, ctx = [], EMPTY_CONTEXT
            else:
                values = [s.value for s in found.siblings]
                ctx = found.context
            if not values and default is not None:
                values = [_to_bytes(default)]
            new = merge(values)
            if new is not None and modify is not None and not change_done:
                new = modify(new)
            if new is None:
                return None if written is None else written
            try:
                nlive, newctx = self.put(key, new, ctx, flags, exptime)
            except TooManySiblings:
                if attempts > retries:
                    raise
                continue
            change_done = True
            self.last_update_writes += 1
            written = (_to_bytes(new), nlive, newctx)
            if nlive <= 1 or not resolve_concurrent or attempts > retries:
                return written

    # ------------------------------------------------------------ plain
    def get(self, key):
        """Plain get: the dominant value (bytes), or None on a miss."""
        r = self.gets(key)
        return None if r is None else r[0]

    def gets(self, key):
        """Plain gets: (value bytes, flags, cas) or None on a miss."""
        k = _check_key(key)
        self._send(b"gets " + k + b"\r\n")
        result = None
        while True:
            line = self._readline()
            if line == "END":
                return result
            parts = line.split(" ")
            if parts[0] == "VALUE" and len(parts) == 5:
                data = self._read_block(int(parts[3]))
                result = (data, int(parts[2]), int(parts[4]))
                continue
            self._raise_if_error(line)
            self._unexpected(line)

    def _store(self, cmd, key, value, flags, exptime, cas=None):
        k = _check_key(key)
        v = _to_bytes(value)
        line = b"%s %s %d %d %d" % (cmd, k, int(flags), int(exptime), len(v))
        if cas is not None:
            line += b" %d" % int(cas)
        self._send(line + b"\r\n" + v + b"\r\n")
        r = self._readline()
        if r in ("STORED", "NOT_STORED", "EXISTS", "NOT_FOUND"):
            return r
        self._raise_if_error(r)
        self._unexpected(r)

    def set(self, key, value, flags=0, exptime=0):
        """Plain set: supersedes every sibling.  Returns True when STORED."""
        return self._store(b"set", key, value, flags, exptime) == "STORED"

    def cas(self, key, value, cas, flags=0, exptime=0):
        """Plain cas: returns "STORED", "EXISTS" or "NOT_FOUND"."""
        return self._store(b"cas", key, value, flags, exptime, cas)

    def plain_delete(self, key):
        """Plain delete: tombstones every sibling.  True when DELETED,
        False on NOT_FOUND."""
        k = _check_key(key)
        self._send(b"delete " + k + b"\r\n")
        r = self._readline()
        if r == "DELETED":
            return True
        if r == "NOT_FOUND":
            return False
        self._raise_if_error(r)
        self._unexpected(r)

    def stats(self, group=None):
        """"stats [group]" as a dict of str -> str."""
        self._send(b"stats" + (b" " + group.encode("ascii") if group else b"")
                   + b"\r\n")
        out = {}
        while True:
            line = self._readline()
            if line == "END":
                return out
            if line.startswith("STAT "):
                parts = line.split(" ", 2)
                out[parts[1]] = parts[2] if len(parts) > 2 else ""
                continue
            self._raise_if_error(line)
            self._unexpected(line)


# ---------------------------------------------------------------- CLI
def _print_versions(key, v):
    print("%s: %d live sibling(s), context %s" % (key, len(v.siblings),
                                                   v.context))
    for i, s in enumerate(v.siblings):
        print("  [%d]%s flags=%d time=%d value=%r" % (
            i, " (dominant)" if i == 0 else "", s.flags, s.wtime_ms, s.value))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Talk to ringcached's versioning extension.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11211)
    ap.add_argument("--unix", metavar="PATH", help="unix socket path")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--flags", type=int, default=0)
    ap.add_argument("--exptime", type=int, default=0)
    ap.add_argument("command", choices=["vget", "vset", "vdel", "get", "set",
                                        "delete"])
    ap.add_argument("args", nargs="+", metavar="ARG",
                    help="vget KEY...; vset KEY VALUE [CONTEXT]; "
                    "vdel KEY CONTEXT; get KEY; set KEY VALUE; delete KEY")
    a = ap.parse_args(argv)
    c = Client(a.host, a.port, unix_path=a.unix, timeout=a.timeout)
    try:
        if a.command == "vget":
            res = c.get_versions_multi(a.args)
            for key, v in res:
                _print_versions(key, v)
            if not res:
                print("no such key")
                return 1
        elif a.command == "vset":
            if len(a.args) not in (2, 3):
                ap.error("vset KEY VALUE [CONTEXT]")
            ctx = a.args[2] if len(a.args) == 3 else EMPTY_CONTEXT
            n, ctx = c.put(a.args[0], a.args[1], ctx, a.flags, a.exptime)
            print("STORED: %d live sibling(s), context %s" % (n, ctx))
        elif a.command == "vdel":
            if len(a.args) != 2:
                ap.error("vdel KEY CONTEXT")
            r = c.delete(a.args[0], a.args[1])
            if r is None:
                print("NOT_FOUND")
                return 1
            print("DELETED: %d live sibling(s) remain, context %s" % r)
        elif a.command == "get":
            v = c.get(a.args[0])
            if v is None:
                print("miss")
                return 1
            print(repr(v))
        elif a.command == "set":
            if len(a.args) != 2:
                ap.error("set KEY VALUE")
            print("STORED" if c.set(a.args[0], a.args[1], a.flags, a.exptime)
                  else "NOT_STORED")
        elif a.command == "delete":
            print("DELETED" if c.plain_delete(a.args[0]) else "NOT_FOUND")
    except RingcachedError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
