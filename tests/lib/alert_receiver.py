#!/usr/bin/env python3
"""tests/lib/alert_receiver.py MODE PORT_FILE LOG_FILE [SECRET] [PORT]: an alert
channel receiver for the delivery tests, on loopback.

MODE http: every POST is accepted. dingtalk: the query's timestamp and sign
must be base64(HMAC-SHA256(SECRET, timestamp + "\\n" + SECRET)), urlencoded;
feishu: the body's sign must be base64(HMAC-SHA256(key = timestamp + "\\n" +
SECRET, message = "")). Signatures are computed here with Python's hmac,
independently of the sender. A good request is answered 200 and logged as one
JSON line {"path", "body"}; a bad one is answered 403 and logged to
LOG_FILE.refused. PORT: listen there (a restarted receiver keeps its port),
else on a free one; the port is written to PORT_FILE once listening."""
import base64
import hashlib
import hmac
import http.server
import json
import sys
import urllib.parse

mode, port_file, log = sys.argv[1], sys.argv[2], sys.argv[3]
secret = sys.argv[4] if len(sys.argv) > 4 else ""
port = int(sys.argv[5]) if len(sys.argv) > 5 else 0


def sign(key, msg):
    return base64.b64encode(hmac.new(key.encode(), msg.encode(), hashlib.sha256).digest()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        u = urllib.parse.urlsplit(self.path)
        ok = True
        try:
            doc = json.loads(body)
        except ValueError:
            doc, ok = None, False
        if ok and mode == "dingtalk":
            q = urllib.parse.parse_qs(u.query)
            ts = q.get("timestamp", [""])[0]
            ok = ts != "" and q.get("sign", [""])[0] == sign(secret, ts + "\n" + secret)
            ok = ok and doc.get("msgtype") in ("markdown", "text")
        elif ok and mode == "feishu":
            ts = str(doc.get("timestamp", ""))
            ok = ts != "" and doc.get("sign") == sign(ts + "\n" + secret, "")
            ok = ok and doc.get("msg_type") == "text" and "text" in doc.get("content", {})
        line = json.dumps({"path": u.path, "body": doc}) + "\n"
        with open(log if ok else log + ".refused", "a") as f:
            f.write(line)
        self.send_response(200 if ok else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
with open(port_file, "w") as f:
    f.write(str(server.server_port))
server.serve_forever()
