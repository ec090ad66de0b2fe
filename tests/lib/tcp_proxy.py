#!/usr/bin/env python3
"""tests/lib/tcp_proxy.py HOST:PORT [LOG_FILE]: a TCP proxy between one client
(an agent) and the test ZooKeeper, driven by the test, for connection faults
that keep the session: held traffic and connection resets.

It listens on a free loopback port and prints "port N" on stdout once it
listens. Then it reads commands on stdin, one a line, and answers each with
one line on stdout, "ok ..." once the command has taken effect (so a test waits
for the answer, never for a while), or "error ...":

  hold [both|up|down]  stop forwarding: both directions (default), only client
                       to server (requests; the server's replies and watch
                       notifications still reach the client), or only server to
                       client. Bytes read meanwhile are kept, sockets stay open.
  release              forward again, held bytes first.
  reset                close every connection open now with a TCP RST (SO_LINGER
                       0) on both sides, dropping held bytes, and forward again;
                       new connections are accepted as before.
  stats                "ok conns=N accepted=N up=BYTES down=BYTES held=REQS
                       notes=EVENTS": REQS the requests held from client to
                       server (comma separated: op:path:w for a watched read,
                       op:path:- else), EVENTS the watch notifications held from
                       server to client (event:path); "-" when none. A test
                       waits until a given read or notification is held before
                       it resets.

A connection opened while traffic is held is held too. On end of stdin (the
test ended or died) the proxy closes everything and exits. With LOG_FILE, every
request and watch notification it forwards is logged there (for a failing
test's post-mortem)."""
import os
import selectors
import socket
import struct
import sys
import time

OPS = {1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData", 8: "getChildren",
       11: "ping", 12: "getChildren2", 14: "multi", 15: "create2", 100: "auth",
       101: "setWatches", 105: "setWatches2", -11: "closeSession"}
READS = (3, 4, 8, 12)  # path, then a watch flag
EVENTS = {1: "created", 2: "deleted", 3: "dataChanged", 4: "childrenChanged"}


def jute_string(buf, off):
    (n,) = struct.unpack_from(">i", buf, off)
    off += 4
    if n < 0:
        return "", off
    return buf[off:off + n].decode("utf-8", "replace"), off + n


def describe_request(frame):
    """op:path:w|- of one request frame (without its length prefix)."""
    if len(frame) < 8:
        return "?"
    xid, op = struct.unpack_from(">ii", frame, 0)
    name = OPS.get(op, str(op))
    try:
        if op in READS:
            path, off = jute_string(frame, 8)
            return "%s:%s:%s" % (name, path, "w" if frame[off:off + 1] == b"\x01" else "-")
        if op in (1, 2, 5, 15):
            path, _ = jute_string(frame, 8)
            return "%s:%s:-" % (name, path)
    except (struct.error, IndexError):
        pass
    return "%s::-" % name


def describe_reply(frame):
    """A watch notification (xid -1) as event:path, else None."""
    if len(frame) < 16:
        return None
    (xid,) = struct.unpack_from(">i", frame, 0)
    if xid != -1:
        return None
    try:
        etype, _state = struct.unpack_from(">ii", frame, 16)
        path, _ = jute_string(frame, 24)
        return "%s:%s" % (EVENTS.get(etype, str(etype)), path)
    except struct.error:
        return "?"


class Flow:
    """One direction of one connection: bytes read, not yet written, and the
    frames seen so far (ZooKeeper frames: a 4-byte length, then the body)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.out = bytearray()   # read, not yet written
        self.scan = bytearray()  # for framing
        self.first = True        # the first frame each way is the handshake
        # (end offset in bytes read, description) of frames not yet written:
        # requests (client to server), watch notifications (server to client)
        self.inflight = []

    def feed(self, data, total_before, log):
        self.scan += data
        pos = 0
        while len(self.scan) - pos >= 4:
            (n,) = struct.unpack_from(">i", self.scan, pos)
            if n < 0 or len(self.scan) - pos - 4 < n:
                break
            frame = bytes(self.scan[pos + 4:pos + 4 + n])
            pos += 4 + n
            if self.first:
                self.first = False
                continue
            end = total_before + pos - (len(self.scan) - len(data))
            if self.upstream:
                d = describe_request(frame)
                self.inflight.append((end, d))
                log("request " + d)
            else:
                d = describe_reply(frame)
                if d:
                    self.inflight.append((end, d))
                    log("notify " + d)
        del self.scan[:pos]


class Conn:
    def __init__(self, client, server, proxy):
        self.sock = {True: client, False: server}  # True: the client side
        self.flow = {True: Flow(True), False: Flow(False)}  # keyed by "from the client"
        self.read_total = {True: 0, False: 0}
        self.written_total = {True: 0, False: 0}
        self.proxy = proxy

    def held(self, upstream):
        return [d for _, d in self.flow[upstream].inflight]


class Proxy:
    def __init__(self, target, log_path):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.logf = open(log_path, "a", buffering=1) if log_path else None
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        self.sel.register(self.lsock, selectors.EVENT_READ, ("listen", None, None))
        self.sel.register(sys.stdin, selectors.EVENT_READ, ("stdin", None, None))
        self.conns = []
        self.accepted = 0
        self.held = {True: False, False: False}  # keyed by "from the client"
        self.bytes = {True: 0, False: 0}
        self.cmdbuf = b""

    def log(self, msg):
        if self.logf:
            self.logf.write("%.3f %s\n" % (time.time(), msg))

    def answer(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        self.log(line)

    # ---------------------------------------------------------------- sockets

    def interest(self, conn):
        """Read from a side unless its peer's outgoing buffer is large (back
        pressure); write when there is something to write and it is not held."""
        for side in (True, False):
            ev = 0
            if len(conn.flow[side].out) < (1 << 20):
                ev |= selectors.EVENT_READ
            other = conn.flow[not side]
            if other.out and not self.held[not side]:
                ev |= selectors.EVENT_WRITE
            s = conn.sock[side]
            key = ("conn", conn, side)
            try:
                self.sel.modify(s, ev, key) if ev else self.sel.unregister(s)
            except KeyError:
                if ev:
                    self.sel.register(s, ev, key)

    def accept(self):
        try:
            client, _ = self.lsock.accept()
        except BlockingIOError:
            return
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError as e:
            self.log("connect to %s:%d failed: %s" % (self.target + (e,)))
            client.close()
            return
        for s in (client, server):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(client, server, self)
        self.conns.append(conn)
        self.accepted += 1
        self.log("accepted connection %d" % self.accepted)
        self.interest(conn)

    def flush(self, conn, src):
        """What one side sent before it closed still reaches the other (best
        effort), unless it is held."""
        out = conn.flow[src].out
        if out and not self.held[src]:
            try:
                conn.sock[not src].setblocking(True)
                conn.sock[not src].settimeout(1)
                conn.sock[not src].sendall(out)
            except OSError:
                pass

    def close(self, conn, rst):
        for s in conn.sock.values():
            try:
                self.sel.unregister(s)
            except KeyError:
                pass
            if rst:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        if conn in self.conns:
            self.conns.remove(conn)

    def on_io(self, conn, side, mask):
        if mask & selectors.EVENT_READ:
            try:
                data = conn.sock[side].recv(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.log("connection closed by the %s" % ("client" if side else "server"))
                self.flush(conn, side)
                self.close(conn, False)
                return
            conn.flow[side].feed(data, conn.read_total[side], self.log)
            conn.read_total[side] += len(data)
            conn.flow[side].out += data
        if mask & selectors.EVENT_WRITE:
            # this side is writable: send what the other side read
            src = not side
            out = conn.flow[src].out
            if out and not self.held[src]:
                try:
                    n = conn.sock[side].send(out)
                except BlockingIOError:
                    n = 0
                except (ConnectionError, OSError):
                    self.close(conn, False)
                    return
                del out[:n]
                conn.written_total[src] += n
                self.bytes[src] += n
                f = conn.flow[src]
                f.inflight = [x for x in f.inflight if x[0] > conn.written_total[src]]
        self.interest(conn)

    # ---------------------------------------------------------------- commands

    def command(self, line):
        words = line.split()
        if not words:
            return
        cmd, arg = words[0], (words[1] if len(words) > 1 else "both")
        if cmd == "hold" and arg in ("both", "up", "down"):
            self.held[True] = arg in ("both", "up")
            self.held[False] = arg in ("both", "down")
            for c in self.conns:
                self.interest(c)
            self.answer("ok hold %s" % arg)
        elif cmd == "release":
            self.held = {True: False, False: False}
            for c in list(self.conns):
                self.interest(c)
            self.answer("ok release")
        elif cmd == "reset":
            n = len(self.conns)
            for c in list(self.conns):
                self.close(c, True)
            self.held = {True: False, False: False}
            self.answer("ok reset %d" % n)
        elif cmd == "stats":
            reqs = [d for c in self.conns for d in c.held(True)]
            notes = [d for c in self.conns for d in c.held(False)]
            self.answer("ok conns=%d accepted=%d up=%d down=%d held=%s notes=%s" %
                        (len(self.conns), self.accepted, self.bytes[True], self.bytes[False],
                         ",".join(reqs) or "-", ",".join(notes) or "-"))
        else:
            self.answer("error unknown command: %s" % line.strip())

    def run(self):
        self.answer("port %d" % self.lsock.getsockname()[1])
        while True:
            for key, mask in self.sel.select():
                kind, conn, side = key.data
                if kind == "listen":
                    self.accept()
                elif kind == "stdin":
                    data = os.read(sys.stdin.fileno(), 4096)
                    if not data:
                        for c in list(self.conns):
                            self.close(c, False)
                        return
                    self.cmdbuf += data
                    while b"\n" in self.cmdbuf:
                        line, self.cmdbuf = self.cmdbuf.split(b"\n", 1)
                        self.command(line.decode("utf-8", "replace"))
                elif conn in self.conns:
                    self.on_io(conn, side, mask)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: tcp_proxy.py HOST:PORT [LOG_FILE]")
    Proxy(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None).run()
