#!/usr/bin/env python3
"""tests/lib/webhook_receiver.py PORT_FILE LOG_FILE: a webhook receiver for the
alert tests. Listens on a free loopback port (written to PORT_FILE once it is
listening) and appends each POSTed body as one line to LOG_FILE, answering 204."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "ab") as f:
            f.write(body + b"\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_port))
server.serve_forever()
