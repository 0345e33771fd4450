#!/bin/bash
# Malformed HTTP, generated: 600 requests made by mutating valid ones (seeded, so a
# failure can be replayed), each on its own connection to a running `weft up`. Every
# answer must be a well-formed HTTP/1.1 status line or nothing (a close, or a request
# the server still waits the rest of); the server must then still serve, and stop
# cleanly (under ASan + UBSan: with no report).
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR/data"
cp "$GUESTS/gw_cgi.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."
timeout = "2s"

[[function]]
name = "vol"
source = "gw_cgi.wasm"
route = "/vol/..."
timeout = "2s"
volumes = { "/data" = "data" }
TOML
start_weft "$DIR" || { fail "server start"; finish; exit 1; }

python3 - "$PORT" "${HTTP_FUZZ_SEED:-1}" "${HTTP_FUZZ_COUNT:-600}" >"$WORK/fuzz.out" 2>&1 <<'PY'
import random, re, socket, sys
from concurrent.futures import ThreadPoolExecutor

port, seed, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
templates = [
    b"GET /cgi/env?a=1&b=2 HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\nConnection: close\r\n\r\n",
    b"POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
    b"POST /vol/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"GET /vol/headers HTTP/1.0\r\nX-A: 1\r\nX-A: 2\r\nCookie: c=1\r\n\r\n",
    b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /cgi/env HTTP/1.1\r\nHost: x\r\n\r\nGET /cgi/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
]
junk = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b":", b"\t", b"\xff", b"%", b"?", b"/..", b"HTTP/1.1",
        b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b"Host: y\r\n", b"0\r\n\r\n"]

def mutate(req):
    b = bytearray(req)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:                       # flip a byte
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:                           # insert something that means something
            b[pos:pos] = rng.choice(junk)
        elif op == 2 and b:                     # delete a run
            del b[pos:pos + rng.randint(1, 8)]
        elif op == 3:                           # repeat a run, up to very long
            run = b[pos:pos + rng.randint(1, 6)] or b"a"
            b[pos:pos] = run * rng.choice([2, 50, 3000])
        elif op == 4:                           # cut it short
            del b[pos:]
        else:                                   # random bytes
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(b)

status_line = re.compile(rb"^HTTP/1\.[01] [1-5][0-9][0-9] [^\r\n]*\r\n")

def send(req):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(0.5)
    try:
        s.sendall(req)
    except OSError:
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass  # a timeout: the server waits for the rest of a request it cannot see end
    s.close()
    return out

reqs = [mutate(rng.choice(templates)) for _ in range(count)]
with ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(send, reqs))
kinds, bad = {}, 0
for req, out in zip(reqs, answers):
    if not out:
        kinds["nothing"] = kinds.get("nothing", 0) + 1
        continue
    m = status_line.match(out)
    if not m:
        bad += 1
        print("NOT HTTP: request %r -> %r" % (req[:200], out[:200]))
        continue
    code = out.split(b" ", 2)[1].decode()
    kinds[code] = kinds.get(code, 0) + 1
print("answers: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
print("not HTTP: %d" % bad)
PY
cat "$WORK/fuzz.out"
check "every answer to a mutated request is HTTP or nothing" "$(grep -c '^NOT HTTP' "$WORK/fuzz.out")" 0
check "the battery ran" "$(grep -c '^answers: ' "$WORK/fuzz.out")" 1
check "most mutations are refused with a 400" "$(grep -o ' 400 [0-9]*' "$WORK/fuzz.out" | awk '{print ($2 > 100) ? "yes" : "no"}')" yes
get /cgi/state
check "still serving after the battery" "$STATUS:$BODY" "200:counter=1"
stop_weft
check "clean exit" "$STOP_RC" 0
finish
