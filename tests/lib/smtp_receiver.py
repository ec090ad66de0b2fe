#!/usr/bin/env python3
"""tests/lib/smtp_receiver.py PORT_FILE LOG_FILE: a loopback SMTP server for the
alert mail test. Each message received is appended to LOG_FILE as one JSON line
{"from", "to", "data"}. Python 3.11's smtpd (deprecated, still shipped) is
enough for plain SMTP; no STARTTLS."""
import json
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import asyncore  # noqa: E402
import smtpd  # noqa: E402


class Server(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"from": mailfrom, "to": rcpttos, "data": data}) + "\n")


s = Server(("127.0.0.1", 0), None, decode_data=False)
with open(sys.argv[1], "w") as f:
    f.write(str(s.socket.getsockname()[1]))
asyncore.loop()
