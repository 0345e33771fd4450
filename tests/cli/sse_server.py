#!/usr/bin/env python3
"""A stand-in server for tests/cli/watch_stream.sh: GET /brokers/b/events answers a
fixed Server-Sent Events stream that uses what the format allows (comments, CRLF and
CR line ends, an event split over data: lines, a message without data, bytes written
one at a time) and then closes; GET /brokers/slow/events sends one event and stays
open; any filter= answers 400 with a message; other paths 404.

usage: sse_server.py PORTFILE
"""
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True


EV = '{"specversion":"1.0","id":"%s","source":"s","type":"%s"%s}'


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if "filter=" in self.path:
            return self.answer(400, b"filter: column 6: expected an expression\n")
        if not self.path.startswith(("/brokers/b/events", "/brokers/slow/events")):
            return self.answer(404, b"no broker here\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        w = self.wfile
        if self.path.startswith("/brokers/slow/"):
            w.write(b"id: 1\ndata: " + (EV % ("s1", "t.slow", "")).encode() + b"\n\n")
            w.flush()
            time.sleep(30)
            return
        out = [
            b": keep-alive\n\n",
            b"id: 1\ndata: " + (EV % ("1", "t.lf", ',"time":"2026-01-01T00:00:00Z","data":{"x":1}')).encode() + b"\n\n",
            b"id: 2\r\ndata: " + (EV % ("2", "t.crlf", ',"data":"a b"')).encode() + b"\r\n\r\n",
            b"id: 3\rdata: " + (EV % ("3", "t.cr", "")).encode() + b"\r\r",
            b'id: 4\ndata: {"specversion":"1.0","id":"4",\ndata:"source":"s","type":"t.split"}\n\n',
            b"event: ping\nretry: 1000\n\n",
            b'data: {"specversion":"1.0","id":"5","source":"s","type":"t.b64","data_base64":"AAEC"}\n\n',
        ]
        for chunk in out:
            w.write(chunk)
            w.flush()
        # One more, a byte at a time.
        last = b"id: 6\ndata: " + (EV % ("6", "t.bytes", ',"data":[1,2]')).encode() + b"\n\n"
        for i in range(len(last)):
            w.write(last[i : i + 1])
            w.flush()
        time.sleep(0.1)


s = Server(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os

os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
