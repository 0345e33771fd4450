#!/usr/bin/env python3
"""The HTTP server weft's outbound HTTP tests talk to, on 127.0.0.1.

    server.py PORTFILE      listens on a free port and writes it to PORTFILE

Routes (any method):
  /hello                 200, a fixed body, X-Test: abc, two Set-Cookie headers
  /echo                  200, the request body back; X-Method, X-Body-Length, and
                         X-Req-<Name> for every request header
  /status?code=N         status N
  /redirect?code=N&to=U  status N with Location U
  /loop                  302 to itself
  /bytes?n=N             N bytes of "x"
  /bigheader?n=N         X-Big: N bytes of "y"
  /slow?s=S              answers after S seconds
  /hits?path=P           how many requests P has had
  /anything-else         404
"""
import http.server
import os
import sys
import threading
import time
import urllib.parse

HITS = {}
HITS_LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with HITS_LOCK:
            HITS[url.path] = HITS.get(url.path, 0) + 1
        path = url.path
        if path == "/hello":
            self.send(200, b"hello from the test server",
                      [("Content-Type", "text/plain"), ("X-Test", "abc"),
                       ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        elif path == "/echo":
            headers = [("Content-Type", "application/octet-stream"),
                       ("X-Method", self.command), ("X-Body-Length", str(len(body)))]
            for name, value in self.headers.items():
                headers.append(("X-Req-" + name, value))
            self.send(200, body, headers)
        elif path == "/status":
            code = int(query.get("code", "200"))
            self.send(code, ("status %d" % code).encode())
        elif path == "/redirect":
            self.send(int(query.get("code", "302")), b"",
                      [("Location", query.get("to", "/hello"))])
        elif path == "/loop":
            self.send(302, b"", [("Location", "/loop")])
        elif path == "/bytes":
            self.send(200, b"x" * int(query.get("n", "0")))
        elif path == "/bigheader":
            self.send(200, b"big", [("X-Big", "y" * int(query.get("n", "0")))])
        elif path == "/slow":
            time.sleep(float(query.get("s", "1")))
            self.send(200, b"slow")
        elif path == "/hits":
            with HITS_LOCK:
                count = HITS.get(query.get("path", ""), 0)
            self.send(200, str(count).encode())
        else:
            self.send(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

    def handle_one_request(self):
        # Unknown methods (e.g. "FROB") come here too.
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
