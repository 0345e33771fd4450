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

A thread per connection reading requests off the socket itself: http.server's header
parsing costs more than weft's whole delivery of an event, and the tests that deliver
many events would measure it. POST is recorded; other methods are answered 501.
"""
import argparse
import email.utils
import json
import os
import socket
import sys
import threading
import time
from http import HTTPStatus


def reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


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

    def answer(f, status, headers, body, close):
        head = "HTTP/1.1 %d %s\r\nServer: weft-test-sink\r\nDate: %s\r\n" % (
            status, reason(status), email.utils.formatdate(usegmt=True))
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        if close:
            head += "Connection: close\r\n"
        f.write(head.encode("latin-1") + b"\r\n" + body)
        f.flush()

    def serve(conn):
        rf = conn.makefile("rb")
        wf = conn.makefile("wb")
        try:
            while True:
                line = rf.readline(65537)
                if not line:
                    return
                words = line.decode("latin-1").split()
                if len(words) != 3:
                    answer(wf, 400, [("Content-Length", "0")], b"", True)
                    return
                method, path, version = words
                headers = {}
                while True:
                    h = rf.readline(65537)
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                conn_hdr = headers.get("connection", "").lower()
                close = conn_hdr == "close" or (version == "HTTP/1.0" and conn_hdr != "keep-alive")
                if method != "POST":
                    answer(wf, 501, [("Content-Length", "0")], b"", True)
                    return
                n = int(headers.get("content-length", "0"))
                body = rf.read(n) if n else b""
                with lock:
                    i = state["n"]
                    state["n"] += 1
                    rec = {
                        "t": time.time(),
                        "path": path,
                        "headers": headers,
                        "body": body.decode("utf-8", "replace"),
                    }
                    log.write(json.dumps(rec) + "\n")
                if args.delay:
                    time.sleep(args.delay)
                status = statuses[min(i, len(statuses) - 1)]
                out_headers = []
                out = b""
                if args.retry_after and status in (429, 503):
                    out_headers.append(("Retry-After", args.retry_after))
                if args.reply_type and 200 <= status < 300:
                    out_headers += [("ce-specversion", "1.0"), ("ce-type", args.reply_type),
                                    ("ce-source", "sink"), ("Content-Type", "application/json")]
                    out = b'{"reply":true}'
                elif status >= 400:
                    out = b"sink says no"
                out_headers.append(("Content-Length", str(len(out))))
                answer(wf, status, out_headers, out, close)
                if close:
                    return
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    with open(args.portfile + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(args.portfile + ".tmp", args.portfile)
    try:
        while True:
            conn, _ = srv.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
