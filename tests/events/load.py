#!/usr/bin/env python3
"""Sends binary-mode events to a broker from several keep-alive connections and records
the answer to each: one line "ID STATUS" per event in OUT (STATUS 0: no answer, the
connection failed). A thread whose connection fails stops.

usage: load.py URL FIRST LAST OUT [--threads N] [--skip FILE]
  FIRST..LAST   event ids (inclusive); thread k sends the ids with id % N == k
  --skip FILE   ids already answered 202 in FILE ("ID STATUS" lines) are not sent

HTTP/1.1 on plain sockets, the request written in one piece and the response read
by its Content-Length: http.client's header parsing would cost more than weft's
whole handling of an event, and the tests that send many events would measure it.
"""
import argparse
import socket
import sys
import threading
import urllib.parse


class Conn:
    """One keep-alive connection; reconnects when the server closed the last one."""

    def __init__(self, host, port):
        self.addr = (host, port)
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("closed by the server")
        self.buf += d

    def request(self, data):
        """Sends one request; returns the response's status."""
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(data)
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close, chunked = 0, False, False
        for h in lines[1:]:
            name, _, value = h.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value == b"close":
                close = True
            elif name == b"transfer-encoding" and value == b"chunked":
                chunked = True
        if chunked:
            while True:
                while b"\r\n" not in self.buf:
                    self._more()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._more()
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        else:
            while len(self.buf) < length:
                self._more()
            self.buf = self.buf[length:]
        if close:
            self.close()
        return status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("first", type=int)
    ap.add_argument("last", type=int)
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--skip")
    args = ap.parse_args()
    skip = set()
    if args.skip:
        for line in open(args.skip):
            i, s = line.split()
            if s == "202":
                skip.add(int(i))
    u = urllib.parse.urlparse(args.url)
    head = ("POST %s HTTP/1.1\r\nHost: %s\r\nce-specversion: 1.0\r\nce-source: load\r\n"
            "ce-type: load\r\ncontent-type: application/json\r\n" % (u.path or "/", u.netloc)).encode()
    out = open(args.out, "a", buffering=1)
    lock = threading.Lock()

    def worker(k):
        conn = Conn(u.hostname, u.port)
        for i in range(args.first + k, args.last + 1, args.threads):
            if i in skip:
                continue
            body = b'{"n":%d}' % i
            req = head + b"ce-id: %d\r\nContent-Length: %d\r\n\r\n" % (i, len(body)) + body
            try:
                status = conn.request(req)
            except Exception:
                status = 0
            with lock:
                out.write("%d %d\n" % (i, status))
            if status == 0:
                conn.close()
                return
        conn.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(args.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


if __name__ == "__main__":
    sys.exit(main())
