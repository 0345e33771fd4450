#!/usr/bin/env python3
"""An event sink for the events tests: an HTTP/1.1 server (keep-alive) that records
every request it gets as one JSON line {"t": seconds, "path", "headers": {lower-case
name: value}, "body"} in a file, and answers as told.

usage: sink.py PORTFILE LOG [--status CODE[,CODE...]] [--retry-after VALUE]
                            [--delay SECONDS] [--reply-type TYPE]

  PORTFILE       the port it bound (an ephemeral one) is written here once listening
  --status       answers in turn (the last one repeats): "503,503,200"
  --retry-after  a Retry-After header on 429 and 503 answers
  --delay        wait this long before answering
  --reply-type   answer 200 with a binary-mode reply event of this type
"""
import argparse
import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("portfile")
    ap.add_argument("log")
    ap.add_argument("--status", default="200")
    ap.add_argument("--retry-after")
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--reply-type")
    args = ap.parse_args()
    statuses = [int(s) for s in args.status.split(",")]
    lock = threading.Lock()
    state = {"n": 0}
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n) if n else b""
            with lock:
                i = state["n"]
                state["n"] += 1
                rec = {
                    "t": time.time(),
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                }
                log.write(json.dumps(rec) + "\n")
            if args.delay:
                time.sleep(args.delay)
            status = statuses[min(i, len(statuses) - 1)]
            self.send_response(status)
            out = b""
            if args.retry_after and status in (429, 503):
                self.send_header("Retry-After", args.retry_after)
            if args.reply_type and 200 <= status < 300:
                self.send_header("ce-specversion", "1.0")
                self.send_header("ce-type", args.reply_type)
                self.send_header("ce-source", "sink")
                self.send_header("Content-Type", "application/json")
                out = b'{"reply":true}'
            elif status >= 400:
                out = b"sink says no"
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = Server(("127.0.0.1", 0), Handler)
    with open(args.portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os

    os.rename(args.portfile + ".tmp", args.portfile)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
