#!/usr/bin/env python3
"""Sends binary-mode events to a broker from several keep-alive connections and records
the answer to each: one line "ID STATUS" per event in OUT (STATUS 0: no answer, the
connection failed). A thread whose connection fails stops.

usage: load.py URL FIRST LAST OUT [--threads N] [--skip FILE]
  FIRST..LAST   event ids (inclusive); thread k sends the ids with id % N == k
  --skip FILE   ids already answered 202 in FILE ("ID STATUS" lines) are not sent
"""
import argparse
import http.client
import sys
import threading
import urllib.parse


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
    out = open(args.out, "a", buffering=1)
    lock = threading.Lock()

    def worker(k):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        for i in range(args.first + k, args.last + 1, args.threads):
            if i in skip:
                continue
            status = 0
            try:
                conn.request("POST", u.path, body=b'{"n":%d}' % i, headers={
                    "ce-specversion": "1.0", "ce-id": str(i), "ce-source": "load",
                    "ce-type": "load", "content-type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except Exception:
                status = 0
            with lock:
                out.write("%d %d\n" % (i, status))
            if status == 0:
                return

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(args.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


if __name__ == "__main__":
    sys.exit(main())
