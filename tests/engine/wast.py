#!/usr/bin/env python3
"""Runs the WebAssembly semantics set (tests/engine/wast/*.wast) on weft's engine.

For each .wast: wast2json turns it into a JSON command list and .wasm modules; the
reference interpreter (wabt's spectest-interp) must pass every command, so that the
expected results written in the file are the spec's; then each module is run at every
level weft compiles at (see LEVELS) by driver_engine_wast (tests/engine/wast_driver.c),
which calls its exports in one instance, as a .wast script's commands run, with values
as bits: results are compared bit for bit (NaN patterns, -0), traps by weft's kind.
A sample of each file's assertions also goes through `weft run --invoke` itself (a new
instance per call, values as text). assert_invalid and assert_malformed modules must be
refused by `weft compile`.

usage: wast.py --weft WEFT --driver DRIVER --work DIR --cache DIR FILE.wast...
Prints each failure, then "N passed, N failed"; exits 1 on any failure.
"""
import argparse
import concurrent.futures
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys

# name: (driver tier, extra environment). Each level has its own cache folder.
LEVELS = {
    "fast": ("fast", {}),  # tcc
    "opt": ("opt", {}),  # cc -O2
    # The level of generated C over WEFT_O2_MAX_BYTES (src/engine/compile.c), forced.
    "huge": ("opt", {"WEFT_FORCE_HUGE_LEVEL": "1"}),
}

# The spec's trap messages (as the spec's own .wast files spell them) and the kind weft
# reports for each (README, "Trap kinds"; src/engine/engine.h WEFT_TRAPS).
TRAP_KINDS = {
    "integer divide by zero": "integer divide by zero",
    "integer overflow": "integer overflow",
    "invalid conversion to integer": "invalid conversion to integer",
    "out of bounds memory access": "out-of-bounds memory access",
    "unreachable": "unreachable instruction executed",
    "indirect call type mismatch": "indirect call type mismatch",
    # call_indirect through an index past the table's end, or to a null entry: wasm2c
    # 1.0.32 checks all three conditions in one test (CALL_INDIRECT in its wasm-rt-impl)
    # and raises WASM_RT_TRAP_CALL_INDIRECT, which weft reports as this one kind. The
    # call traps, as the spec says; only the kind's wording is wider than the spec's.
    "undefined element": "indirect call type mismatch",
    "uninitialized element": "indirect call type mismatch",
    "call stack exhausted": "call stack exhausted",
}
# The assertions expect a trap of the kind TRAP_KINDS gives; the driver's deadline shows
# as "trap deadline exceeded", which matches none.

# Known engine bugs: (file, line, level) -> why. An assertion listed here is run but
# its failure does not fail the test (it is printed as a known bug); once it passes,
# the test fails until it is taken off the list, so the list stays true.
KNOWN_BUGS = {
    # Runaway recursion through tail calls (and through an accumulator, 1 + f(x)) in
    # the optimized tier: gcc -O2 turns the recursion into a loop (sibling-call and
    # tail-recursion optimization), so the guest spins until its deadline ("deadline
    # exceeded") instead of trapping "call stack exhausted"; a weft run without
    # --timeout never ends. gcc -fno-optimize-sibling-calls makes all three trap, but
    # costs the engine benchmark's recursive program half its speed, so weft keeps the
    # loops on purpose (bench/README.md, "Engine speed, step 1"): the spec sets no depth
    # at which a stack must run out, and the deadline still stops an endless guest.
    # The huge level (-Og) and tcc do not make loops of them.
    ("calls.wast", 84, "opt"): "gcc -O2 makes tail-call recursion a loop",
    ("calls.wast", 85, "opt"): "gcc -O2 makes tail-call recursion a loop",
    ("calls.wast", 86, "opt"): "gcc -O2 makes accumulator recursion a loop",
}

# The time one instance's calls may take together (the driver's deadline): short for a
# module that exhausts the stack, which takes milliseconds when it works and spins when
# it does not (see KNOWN_BUGS); generous otherwise.
DEADLINE_EXHAUSTION, DEADLINE = 1, 60

# The same as spectest-interp (wabt 1.0.32) words them: it does not compare an
# assert_trap's text with its own trap, so run_reference does.
REFERENCE_TRAPS = {
    "integer divide by zero": "integer divide by zero",
    "integer overflow": "integer overflow",
    "invalid conversion to integer": "invalid conversion to integer",
    "out of bounds memory access": "out of bounds memory access",
    "unreachable": "unreachable executed",
    "indirect call type mismatch": "indirect call signature mismatch",
    "undefined element": "undefined table index",
    "uninitialized element": "uninitialized table element",
}

F32_CANON, F64_CANON = 0x7FC00000, 0x7FF8000000000000


def width(t):
    return 32 if t in ("i32", "f32") else 64


def check_value(exp, got):
    """exp: a wast2json expected value; got: the result's bits. None when they agree,
    else a description of the expected value."""
    t, v = exp["type"], exp.get("value")
    if t not in ("i32", "i64", "f32", "f64"):
        return "unsupported type %s" % t
    mask = (1 << width(t)) - 1
    sign = 1 << (width(t) - 1)
    if v in ("nan:canonical", "nan:arithmetic"):
        canon = F32_CANON if t == "f32" else F64_CANON
        if v == "nan:canonical":
            ok = (got & ~sign & mask) == canon
        else:
            ok = (got & canon) == canon
        return None if ok else v
    want = int(v) & mask
    return None if got == want else "0x%x" % want


def show(t, bits):
    if t == "f32":
        return "0x%08x (%r)" % (bits, struct.unpack("<f", struct.pack("<I", bits))[0])
    if t == "f64":
        return "0x%016x (%r)" % (bits, struct.unpack("<d", struct.pack("<Q", bits))[0])
    return "0x%x" % bits


class Failures:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.known = 0

    def ok(self):
        self.passed += 1

    def fail(self, msg):
        self.failed += 1
        print("FAIL: " + msg, file=sys.stderr)


def run_reference(path, json_path, data, res):
    """spectest-interp must pass every command, each assert_trap with the trap its text
    names: the file says what the spec says."""
    p = subprocess.run(["spectest-interp", os.path.basename(json_path)],
                       cwd=os.path.dirname(json_path), capture_output=True, text=True)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    parts = last.split()[0].split("/") if last.endswith("tests passed.") else None
    if p.returncode != 0 or not parts or parts[0] != parts[1]:
        res.fail("%s: the reference interpreter disagrees with the file:\n%s%s"
                 % (path, p.stdout, p.stderr))
    else:
        res.ok()
    traps = {c["line"]: c["text"] for c in data["commands"] if c["type"] == "assert_trap"}
    for line in p.stdout.splitlines():
        m = re.match(r".*:(\d+): assert_trap passed: (.*)$", line)
        if not m or int(m.group(1)) not in traps:
            continue
        want = traps.pop(int(m.group(1)))
        ref = next((r for t, r in REFERENCE_TRAPS.items() if want.startswith(t)), None)
        if ref is None or not m.group(2).startswith(ref):
            res.fail("%s:%s: the file expects the trap %r, the reference interpreter "
                     "traps %r" % (path, m.group(1), want, m.group(2)))
        else:
            res.ok()
    for line in sorted(traps):
        res.fail("%s:%d: the reference interpreter did not report this trap" % (path, line))


def collect(path, data):
    """The commands of one file: {module file: [assertion]}, and the invalid modules."""
    calls, invalid, current, named = {}, [], None, {}
    for c in data["commands"]:
        t = c["type"]
        if t == "module":
            current = c["filename"]
            calls[current] = []
            if "name" in c:
                named[c["name"]] = current
        elif t in ("assert_return", "assert_trap", "assert_exhaustion", "action"):
            a = c["action"]
            if a["type"] != "invoke":
                raise SystemExit("%s:%d: only invoke actions are supported" % (path, c["line"]))
            mod = named[a["module"]] if "module" in a else current
            calls[mod].append(c)
        elif t in ("assert_invalid", "assert_malformed"):
            if c.get("module_type") == "binary":
                invalid.append(c)
        else:
            raise SystemExit("%s:%d: command %s is not supported" % (path, c["line"], t))
    return calls, invalid


def expect_of(c):
    """('return', [expected]) or ('trap', weft's kind)."""
    if c["type"] == "assert_return":
        return "return", c["expected"]
    if c["type"] == "action":
        return "return", None  # any result, no trap
    text = c["text"]
    for spec, kind in TRAP_KINDS.items():
        if text.startswith(spec):
            return "trap", kind
    raise SystemExit("line %d: trap text %r has no weft kind in TRAP_KINDS" % (c["line"], text))


def compare(c, line):
    """None when the driver's answer line agrees with assertion c, else what differs."""
    kind, exp = expect_of(c)
    if kind == "trap":
        return None if line == "trap " + exp else "expected trap %r, got %r" % (exp, line)
    if not line.startswith("ok"):
        return "expected a return, got %r" % line
    if exp is None:
        return None
    got = [int(x, 16) for x in line.split()[1:]]
    if len(got) != len(exp):
        return "expected %d results, got %r" % (len(exp), line)
    for e, g in zip(exp, got):
        want = check_value(e, g)
        if want is not None:
            return "expected %s %s, got %s" % (e["type"], want, show(e["type"], g))
    return None


def describe(path, c, level):
    a = c["action"]
    args = " ".join("%s:%s" % (x["type"], x["value"]) for x in a["args"])
    return "%s:%d [%s] %s(%s)" % (os.path.basename(path), c["line"], level, a["field"], args)


def run_driver(driver, level, cache, wasm, cmds):
    seconds = DEADLINE_EXHAUSTION if any(c["type"] == "assert_exhaustion" for c in cmds) \
        else DEADLINE
    tier, env = LEVELS[level]
    lines = []
    for c in cmds:
        a = c["action"]
        if any(ch.isspace() for ch in a["field"]) or not a["field"]:
            raise SystemExit("line %d: export names must have no spaces" % c["line"])
        lines.append(" ".join([a["field"]] + ["%x" % (int(x["value"]) & ((1 << width(x["type"])) - 1))
                                              for x in a["args"]]))
    p = subprocess.run([driver, tier, os.path.join(cache, level, "weft"), wasm, str(seconds)],
                       input="\n".join(lines) + "\n", capture_output=True, text=True,
                       env=dict(os.environ, **env), timeout=300)
    return p.returncode, p.stdout.splitlines(), p.stderr


def run_file(path, args, res, pool):
    name = os.path.splitext(os.path.basename(path))[0]
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    json_path = os.path.join(work, name + ".json")
    p = subprocess.run(["wast2json", "--enable-all", path, "-o", json_path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        res.fail("%s: wast2json: %s" % (path, p.stderr))
        return []
    with open(json_path) as f:
        data = json.load(f)
    run_reference(path, json_path, data, res)
    calls, invalid = collect(path, data)
    for c in invalid:
        wasm = os.path.join(work, c["filename"])
        p = subprocess.run([args.weft, "compile", "-q", wasm], capture_output=True, text=True,
                           env=dict(os.environ, XDG_CACHE_HOME=os.path.join(args.cache, "invalid")))
        if p.returncode == 1 and p.stderr.startswith("weft: "):
            res.ok()
        else:
            res.fail("%s:%d: weft compile of a module the spec calls %s (%s): exit %d, %s"
                     % (path, c["line"], c["type"][7:], c["text"], p.returncode, p.stderr.strip()))
    jobs = []
    for wasm, cmds in calls.items():
        for level in LEVELS:
            if level == "fast" and not shutil.which("tcc"):
                continue
            fut = pool.submit(run_driver, args.driver, level, args.cache,
                              os.path.join(work, wasm), cmds)
            jobs.append((path, level, wasm, cmds, fut))
    return jobs


def check_jobs(jobs, res):
    unused = set(KNOWN_BUGS)
    for path, level, wasm, cmds, fut in jobs:
        rc, lines, err = fut.result()
        if rc != 0 or len(lines) != len(cmds):
            res.fail("%s [%s] %s: driver exit %d, %d answers for %d calls: %s"
                     % (path, level, wasm, rc, len(lines), len(cmds), err.strip()))
            continue
        for c, line in zip(cmds, lines):
            why = compare(c, line)
            key = (os.path.basename(path), c["line"], level)
            unused.discard(key)
            if key in KNOWN_BUGS:
                if why is None:
                    res.fail("%s: passes now: take it off KNOWN_BUGS" % describe(path, c, level))
                else:
                    res.known += 1
                    print("known engine bug: %s: %s (%s)"
                          % (describe(path, c, level), why, KNOWN_BUGS[key]))
            elif why is None:
                res.ok()
            else:
                res.fail("%s: %s" % (describe(path, c, level), why))
    ran = {os.path.basename(j[0]) for j in jobs}
    for key in sorted(k for k in unused if k[0] in ran):
        res.fail("KNOWN_BUGS entry %s:%d [%s] names no assertion: the file changed?" % key)


# ---- the same through `weft run --invoke` (values as text, a fresh instance per call) ----

def text_arg(x):
    t, bits = x["type"], int(x["value"])
    if t in ("i32", "i64"):
        return str(bits)
    v = struct.unpack("<f" if t == "f32" else "<d",
                      struct.pack("<I" if t == "f32" else "<Q", bits))[0]
    if math.isnan(v):
        canon = F32_CANON if t == "f32" else F64_CANON
        sign = 1 << (width(t) - 1)
        if bits & ~sign != canon:
            return None  # a NaN payload text cannot carry
        return "-nan" if bits & sign else "nan"
    return repr(v)


def text_matches(e, s):
    t = e["type"]
    if t in ("i32", "i64"):
        return check_value(e, int(s) & ((1 << width(t)) - 1)) is None
    if e["value"].startswith("nan:"):
        return s == "NaN"
    want = int(e["value"])
    fmt, ifmt = ("<f", "<I") if t == "f32" else ("<d", "<Q")
    wv = struct.unpack(fmt, struct.pack(ifmt, want))[0]
    if math.isnan(wv):
        return s == "NaN"
    try:
        got = struct.unpack(ifmt, struct.pack(fmt, float(s)))[0]
    except (ValueError, OverflowError):
        return False
    return got == want


def cli_sample(path, calls):
    """Per module, its first assert_return and the first assertion of each trap kind whose
    values text can carry (and that is not a known bug of the optimized tier, which
    `weft run` runs)."""
    out = []
    for wasm, cmds in calls.items():
        seen = set()
        for c in cmds:
            kind, exp = expect_of(c)
            tag = kind if kind == "return" else exp
            if c["type"] == "action" or tag in seen \
                    or (os.path.basename(path), c["line"], "opt") in KNOWN_BUGS:
                continue
            if any(text_arg(x) is None for x in c["action"]["args"]):
                continue
            seen.add(tag)
            out.append((wasm, c))
    return out


def run_cli(path, args, res):
    name = os.path.splitext(os.path.basename(path))[0]
    work = os.path.join(args.work, name)
    with open(os.path.join(work, name + ".json")) as f:
        calls, _ = collect(path, json.load(f))
    for wasm, c in cli_sample(path, calls):
        wpath = os.path.join(work, wasm)
        a = c["action"]
        p = subprocess.run([args.weft, "run", "--timeout", "%ds" % DEADLINE, "--invoke", a["field"], wpath]
                           + [text_arg(x) for x in a["args"]],
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, XDG_CACHE_HOME=os.path.join(args.cache, "opt")))
        kind, exp = expect_of(c)
        what = describe(path, c, "weft run --invoke")
        if kind == "trap":
            want = "weft: %s: trap: %s" % (wpath, exp)
            if p.returncode == 134 and p.stderr.strip() == want:
                res.ok()
            else:
                res.fail("%s: expected exit 134 and %r, got exit %d and %r"
                         % (what, want, p.returncode, p.stderr.strip()))
            continue
        outs = p.stdout.split()
        if p.returncode == 0 and len(outs) == len(exp) and all(
                text_matches(e, s) for e, s in zip(exp, outs)):
            res.ok()
        else:
            res.fail("%s: expected %s, got exit %d, %r %r"
                     % (what, [e.get("value") for e in exp], p.returncode, p.stdout, p.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    res = Failures()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        jobs = []
        for path in args.files:
            jobs += run_file(path, args, res, pool)
        check_jobs(jobs, res)
        for path in args.files:
            run_cli(path, args, res)
    note = ", %d known engine bugs (KNOWN_BUGS)" % res.known if res.known else ""
    print("%d passed, %d failed%s" % (res.passed, res.failed, note))
    if res.passed + res.failed == 0:
        print("FAIL: no check made", file=sys.stderr)
        return 1
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
