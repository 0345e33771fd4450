#!/usr/bin/env python3
"""Loads a page in headless chromium and writes its DOM once a condition holds.

Usage: browser_dom.py CHROMIUM URL CONDITION OUT [SECONDS [READY THEN]]

CONDITION is a JavaScript expression evaluated in the page until it is true (or SECONDS
pass, 20 by default); then document.documentElement.outerHTML goes to OUT. Exit status 0
when the condition held, 1 when time ran out (the DOM is written either way). With READY
and THEN, the shell command THEN runs once the expression READY is true in the page (to
act while the page is open, e.g. send what it should then show), before CONDITION is
awaited.

chromium's --dump-dom cannot wait for a page that keeps a connection open (an
EventSource): it dumps at a time of its choosing, and a virtual time budget never runs
out. So this drives chromium over the DevTools protocol instead, through
--remote-debugging-pipe (requests on fd 3, answers on fd 4, NUL-separated JSON), which
needs nothing but the standard library.
"""
import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    chromium, url, condition, out = sys.argv[1:5]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 20
    ready, then = (sys.argv[6], sys.argv[7]) if len(sys.argv) > 7 else (None, None)
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="weft-chromium-")

    def child_fds():
        # The pipe's ends at 3 and 4, kept open across exec (subprocess's own fd
        # handling would close them: it runs after this).
        for fd, at in ((to_browser_r, 3), (from_browser_w, 4)):
            if fd == at:
                os.set_inheritable(fd, True)
            else:
                os.dup2(fd, at)

    # from_browser_w must not sit at 3, where the first dup2 would replace it.
    if from_browser_w == 3:
        from_browser_w = os.dup(from_browser_w)
    proc = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--remote-debugging-pipe",
         "--user-data-dir=" + profile, "about:blank"],
        close_fds=False, preexec_fn=child_fds,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser_r)
    os.close(from_browser_w)
    pending = b""
    next_id = 0

    def call(method, params=None, session=None):
        nonlocal pending, next_id
        next_id += 1
        msg = {"id": next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(to_browser_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in pending:
                chunk = os.read(from_browser_r, 65536)
                if not chunk:
                    raise SystemExit("chromium closed its pipe")
                pending += chunk
            raw, pending = pending.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == next_id:
                if "error" in answer:
                    raise SystemExit("%s: %s" % (method, answer["error"]))
                return answer["result"]

    def evaluate(expr, session):
        r = call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
        return r.get("result", {}).get("value")

    held = False
    try:
        target = call("Target.createTarget", {"url": url})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        end = time.monotonic() + seconds

        def wait_for(expr):
            while time.monotonic() < end:
                try:
                    if evaluate("Boolean(%s)" % expr, session):
                        return True
                except SystemExit:
                    pass  # the page is still loading
                time.sleep(0.1)
            return False

        if ready is None or wait_for(ready):
            if then is not None:
                subprocess.run(then, shell=True, check=False)
            held = wait_for(condition)
        with open(out, "w") as f:
            f.write(evaluate("document.documentElement.outerHTML", session) or "")
        try:
            call("Browser.close")
        except SystemExit:
            pass
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", profile])
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
