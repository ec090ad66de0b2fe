#!/usr/bin/env python3
"""tests/lib/httpraw.py: a raw-socket HTTP client for the console's request gate
(core/http.c) and a runner for table-driven API cases.

  httpraw.py cases PORT FILE [--login USER:PWFILE]   run a case file (tests/data/*_cases)
  httpraw.py slowloris PORT HEADER_S                 one header line every HEADER_S/3 s must be cut off
  httpraw.py pipeline PORT                           two requests in one write, both answered
  httpraw.py slowbody PORT BODY_S                    a body that stops halfway must get 408 after BODY_S
  httpraw.py caps PORT CLIENT_CONNS CLIENT_MB TOTAL_MB  the caps per address and in total
  httpraw.py hold PORT N CL SEND [--src 127.0.0.K]   N connections declare CL body bytes, send SEND
                                                     of them and hold; prints the statuses seen

Case files, in the spirit of jq's tests: one case per block, blocks separated by
blank lines, '#' starts a comment line.

  PUT /api/v1/jobs/x                 request line (method and path), or
  raw: GET / HTTP/1.1\\r\\n...         the exact bytes (Python escapes), sent as they are
  header: Name: value                any number
  auth: admin                        send the session cookie and CSRF token of --login
  body: {...}                        the body, as written (Content-Length added)
  bodyb: \\xff...                     the body with Python byte escapes
  bodyseq: N PRE|ITEM|POST            the body is PRE, N copies of ITEM joined by ","
                                     ({i} in ITEM is the copy's number), POST
  In body and bodyseq, @{C*N} stands for the character C repeated N times.
  => STATUS [FIELD]                  expected status, and "field" of the JSON error

Every 4xx/5xx reply must be JSON with an "error" string. The exit status is the
number of failed cases (0: all passed); the last line is "N passed, N failed".
"""
import json
import re
import socket
import sys
import time


def connect(port, src=None, timeout=10.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


_leftover = {}


def read_reply(s, deadline_s=10.0):
    """One response: (status, headers dict (lower-case), body bytes). Status 0 when
    the connection closed (or reset) with nothing. Bytes of a following response
    read with this one are kept for the next call on the same socket."""
    buf = _leftover.pop(s.fileno(), b"")
    end = time.monotonic() + deadline_s
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout, BrokenPipeError):
            d = b""
        if not d:
            return (0, {}, buf)
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdr[k.strip().lower()] = v.strip()
    n = int(hdr.get("content-length", "0"))
    while len(rest) < n:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            d = b""
        if not d:
            break
        rest += d
    if len(rest) > n:
        _leftover[s.fileno()] = rest[n:]
    return (status, hdr, rest[:n])


def request(port, raw, src=None):
    s = connect(port, src)
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        return read_reply(s)
    finally:
        s.close()


def build(method, path, headers, body):
    h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (method, path)
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    if body is not None:
        h += "Content-Length: %d\r\n" % len(body)
    return h.encode("latin-1") + b"\r\n" + (body or b"")


def unescape(text):
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def login(port, spec):
    user, pwfile = spec.split(":", 1)
    pw = open(pwfile).read().strip()
    body = json.dumps({"username": user, "password": pw}).encode()
    st, hdr, b = request(port, build("POST", "/api/v1/login",
                                     [("Content-Type", "application/json")], body))
    if st != 200:
        sys.exit("login as %s: %d %s" % (user, st, b))
    cookie = hdr["set-cookie"].split(";")[0]
    return cookie, json.loads(b)["csrf"]


def expand(text):
    return re.sub(r"@\{(.)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), text)


def parse_cases(path):
    cases, cur = [], None
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            cur = None
            continue
        if cur is None:
            cur = {"line": no, "headers": [], "body": None, "auth": None, "raw": None}
            cases.append(cur)
            if line.startswith("raw: "):
                cur["raw"] = unescape(line[5:])
            else:
                cur["method"], cur["path"] = line.split(" ", 1)
            continue
        key, _, val = line.partition(": ")
        if line.startswith("=> "):
            parts = line[3:].split(" ", 1)
            cur["status"] = int(parts[0])
            cur["field"] = parts[1] if len(parts) > 1 else None
        elif key == "header":
            k, _, v = val.partition(": ")
            cur["headers"].append((k, v))
        elif key == "auth":
            cur["auth"] = val
        elif key == "body":
            cur["body"] = expand(val).encode("utf-8")
        elif key == "bodyb":
            cur["body"] = unescape(val)
        elif key == "bodyseq":
            n, _, t = val.partition(" ")
            pre, item, post = expand(t).split("|")
            cur["body"] = (pre + ",".join(item.replace("{i}", str(i)) for i in range(int(n)))
                           + post).encode("utf-8")
        else:
            sys.exit("%s:%d: unknown line %r" % (path, no, line))
    return cases


def run_cases(port, path, login_spec):
    sess = login(port, login_spec) if login_spec else None
    passed = failed = 0
    for c in parse_cases(path):
        if c["raw"] is not None:
            raw = c["raw"]
            what = repr(raw[:60])
        else:
            hdrs = list(c["headers"])
            if c["auth"]:
                if not sess:
                    sys.exit("%s:%d: auth needs --login" % (path, c["line"]))
                hdrs += [("Cookie", sess[0]), ("X-CSRF-Token", sess[1])]
            raw = build(c["method"], c["path"], hdrs, c["body"])
            what = "%s %s" % (c["method"], c["path"][:60])
        st, hdr, body = request(port, raw)
        why = None
        if st != c["status"]:
            why = "status %d, want %d" % (st, c["status"])
        elif st >= 400:
            try:
                o = json.loads(body)
                if not isinstance(o.get("error"), str):
                    why = "no \"error\" string in %r" % body[:200]
                elif c["field"] and o.get("field") != c["field"]:
                    why = "field %r, want %r (%s)" % (o.get("field"), c["field"], o["error"])
            except ValueError:
                why = "reply is not JSON: %r" % body[:200]
        if why:
            failed += 1
            print("FAIL %s:%d %s: %s (%r)" % (path, c["line"], what, why, body[:300]))
        else:
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return failed


def slowloris(port, header_s):
    """Send a header line every header_s/3 seconds; the gate must answer 408 and
    close within header_s (+ slack), not after the client stops."""
    s = connect(port)
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    t0 = time.monotonic()
    step = header_s / 3.0
    n = 0
    while time.monotonic() - t0 < header_s * 4:
        time.sleep(step)
        try:
            s.sendall(b"X-Slow-%d: 1\r\n" % n)
        except (BrokenPipeError, ConnectionResetError):
            break
        n += 1
        s.settimeout(0.01)
        try:
            if s.recv(1, socket.MSG_PEEK):
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    st, hdr, body = read_reply(s, 2 * header_s)
    took = time.monotonic() - t0
    print("slowloris: %d after %.1f s and %d header lines: %s" % (st, took, n, body[:200]))
    ok = st == 408 and took < header_s + step + 3 and json.loads(body).get("field") == "headers"
    return 0 if ok else 1


def slowbody(port, body_s):
    s = connect(port)
    s.sendall(b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"user")
    t0 = time.monotonic()
    st, hdr, body = read_reply(s, 3 * body_s)
    took = time.monotonic() - t0
    print("slowbody: %d after %.1f s: %s" % (st, took, body[:200]))
    return 0 if st == 408 and took < body_s + 3 and json.loads(body).get("field") == "body" else 1


def declare(port, src, cl, send=100):
    """A connection from src that declares a cl-byte body and sends `send` bytes."""
    s = connect(port, src)
    s.sendall(b"POST /api/v1/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % cl
              + b" " * send)
    return s


def status_now(s, wait=1.0):
    """The status of a reply that came within `wait` s, or 0 (still waiting)."""
    s.settimeout(wait)
    try:
        d = s.recv(4096, socket.MSG_PEEK)
    except socket.timeout:
        return 0
    except ConnectionResetError:
        return -1
    if not d:
        return -1
    return read_reply(s)[0]


def metric(port, name):
    st, _, body = request(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    for ln in body.decode().splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    return None


def wait_until(deadline_s, fn):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.1)
    return False


def caps(port, client_conns, client_mb, total_mb):
    fails = []
    body = 4000000  # under the 4 MiB body cap
    # connections per address, counted at accept: the one over the cap is refused
    # at once, before it sends anything; another address is not affected
    held = [connect(port, "127.0.0.2") for _ in range(client_conns)]
    extra = connect(port, "127.0.0.2")
    st = status_now(extra, 5)
    if st != 503:
        fails.append("connection %d from one address: %d, want 503" % (client_conns + 1, st))
    other = request(port, b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    "127.0.0.3")[0]
    if other not in (200, 503) or other == 0:
        fails.append("another address refused: %d" % other)
    for s in held + [extra]:
        s.close()
    # bytes per address: reserved when the head ends, before the body is read
    per = max(1, (client_mb << 20) // (body + 200))
    a = [declare(port, "127.0.0.4", body) for _ in range(per + 1)]
    sts = [status_now(s) for s in a]
    if sts[:per] != [0] * per or sts[per] != 503:
        fails.append("bytes per address: %s, want %d waiting then 503" % (sts, per))
    # bytes in total: spread over addresses, each under its own cap
    n_total = (total_mb << 20) // (body + 200)
    b = [declare(port, "127.0.1.%d" % (i + 1), body) for i in range(n_total - per)]
    last = declare(port, "127.0.2.1", body)
    sts = [status_now(s) for s in b] + [status_now(last)]
    if sts[:-1] != [0] * len(b) or sts[-1] != 503:
        fails.append("bytes in total: %s, want %d waiting then 503" % (sts, len(b)))
    for s in a + b + [last]:
        s.close()
    # everything is released when the connections close (what remains held is the
    # head of the /metrics request asking)
    if not wait_until(10, lambda: metric(port, "shardcron_console_http_buffered_bytes") < 1000):
        fails.append("buffered bytes not released: %s"
                     % metric(port, "shardcron_console_http_buffered_bytes"))
    s = declare(port, "127.0.0.4", body)
    if status_now(s) != 0:
        fails.append("a new request after release was refused")
    s.close()
    for f in fails:
        print("FAIL caps: " + f)
    print("caps: %s" % ("ok" if not fails else "%d failed" % len(fails)))
    return len(fails)


def pipeline(port):
    s = connect(port)
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
              b"GET /api/v1/nosuch HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    a = read_reply(s)
    b = read_reply(s)
    print("pipeline: %d then %d" % (a[0], b[0]))
    return 0 if a[0] in (200, 503) and b[0] == 404 else 1


def hold(port, n, cl, send, src):
    """n connections declare cl body bytes, send `send` of them and wait; prints
    one status per connection (0 = still waiting / no reply within 1 s), then
    holds them until stdin closes."""
    conns, out = [], []
    for i in range(n):
        s = connect(port, src)
        s.sendall(b"POST /api/v1/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % cl)
        try:
            s.sendall(b"[" + b" " * (send - 1))
        except (BrokenPipeError, ConnectionResetError):
            pass
        conns.append(s)
    for s in conns:
        s.settimeout(1.0)
        try:
            d = s.recv(4096)
            out.append(int(d.split(b" ")[1]) if d.startswith(b"HTTP/") else 0)
        except socket.timeout:
            out.append(0)
        except ConnectionResetError:
            out.append(-1)
    print(" ".join(str(x) for x in out), flush=True)
    sys.stdin.read()
    for s in conns:
        s.close()
    return 0


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, port = argv[1], int(argv[2])
    if cmd == "cases":
        lg = argv[argv.index("--login") + 1] if "--login" in argv else None
        return run_cases(port, argv[3], lg)
    if cmd == "slowloris":
        return slowloris(port, float(argv[3]))
    if cmd == "pipeline":
        return pipeline(port)
    if cmd == "slowbody":
        return slowbody(port, float(argv[3]))
    if cmd == "caps":
        return caps(port, int(argv[3]), int(argv[4]), int(argv[5]))
    if cmd == "hold":
        src = argv[argv.index("--src") + 1] if "--src" in argv else None
        return hold(port, int(argv[3]), int(argv[4]), int(argv[5]), src)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
