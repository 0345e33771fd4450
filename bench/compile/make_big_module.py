#!/usr/bin/env python3
"""Makes a large module for the compile-time benchmark and test: generated C with
CODE_FUNCS functions compiled with clang, then a data segment of DATA_MB megabytes of
pseudo-random bytes added to its data section, as a real module with big embedded
assets (fonts, tables, a model) has.

The module prints two lines: a hash chained through every generated function (a native
build of the same C, written with --native, prints the same), and "data XXXXXXXX", an
FNV-1a hash of the added data as the guest sees it in its memory; this script prints
the value expected there as "expect-data XXXXXXXX". A test can so check both the code
and the data.

usage: make_big_module.py OUT.wasm [DATA_MB] [CODE_FUNCS] [--native]
"""
import os
import random
import subprocess
import sys
import tempfile

DATA_OFFSET = 8 << 20


def leb_u(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def leb_s(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def read_leb(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def fnv1a(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def generate_c(funcs, data_len):
    rnd = random.Random(1)
    out = ["#include <stdio.h>", "#include <stdint.h>"]
    for i in range(funcs):
        a, b, c = rnd.randrange(1, 1 << 30), rnd.randrange(1, 31), rnd.randrange(2, 97)
        out.append(f"""__attribute__((noinline)) uint32_t f{i}(uint32_t x, const uint32_t *t) {{
  uint32_t h = x ^ {a}u;
  for (int k = 0; k < {c % 7 + 2}; k++) {{
    h = (h << {b}) | (h >> (32 - {b}));
    h += t[(h + k) & 15] * {c}u;
    if (h & 1) h ^= {a ^ 0x5bd1e995}u; else h = h / {c}u + t[k & 15];
    switch (h % 5) {{ case 0: h += {a % 1000}; break; case 1: h ^= h >> 7; break;
      case 2: h *= 0x9e3779b1u; break; case 3: h -= t[(h >> 3) & 15]; break; default: h = ~h; }}
  }}
  return h;
}}""")
    out.append("typedef uint32_t (*fn)(uint32_t, const uint32_t *);")
    out.append("static fn table[] = {" + ", ".join(f"f{i}" for i in range(funcs)) + "};")
    out.append(f"""int main(int argc, char **argv) {{
  uint32_t t[16], s = 12345;
  for (int i = 0; i < 16; i++) t[i] = s = s * 1103515245u + 12345u;
  uint32_t h = (uint32_t)argc;
  for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++) h = table[i](h, t);
  printf("%08x\\n", h);
#ifdef __wasm__
  uint32_t d = 0x811c9dc5u;
  const volatile unsigned char *blob = (const volatile unsigned char *)(uintptr_t){DATA_OFFSET}u;
  for (uint32_t i = 0; i < {data_len}u; i++) d = (d ^ blob[i]) * 0x01000193u;
  printf("data %08x\\n", d);
#endif
  return 0;
}}""")
    return "\n".join(out)


def add_data_segment(wasm, data, offset):
    assert wasm[:8] == b"\0asm\1\0\0\0"
    pos, out, done = 8, bytearray(wasm[:8]), False
    seg = b"\x00" + b"\x41" + leb_s(offset) + b"\x0b" + leb_u(len(data)) + data
    while pos < len(wasm):
        sid = wasm[pos]
        size, body = read_leb(wasm, pos + 1)
        payload = wasm[body:body + size]
        if sid == 12:  # data count
            n, _ = read_leb(payload, 0)
            payload = leb_u(n + 1)
        if sid == 11:
            n, p = read_leb(payload, 0)
            payload = leb_u(n + 1) + payload[p:] + seg
            done = True
        out += bytes([sid]) + leb_u(len(payload)) + payload
        pos = body + size
    assert done, "module has no data section"
    return bytes(out)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    native = "--native" in sys.argv
    out = args[0]
    data_mb = int(args[1]) if len(args) > 1 else 17
    funcs = int(args[2]) if len(args) > 2 else 550
    data = random.Random(2).randbytes(data_mb << 20)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "big.c")
        with open(src, "w") as f:
            f.write(generate_c(funcs, len(data)))
        mem = DATA_OFFSET + len(data) + (8 << 20)
        mem = (mem + 65535) // 65536 * 65536
        subprocess.check_call(["clang", "--target=wasm32-wasi", "-O2", src, "-o", out + ".code",
                               f"-Wl,--initial-memory={mem}"])
        if native:
            subprocess.check_call(["gcc", "-O2", src, "-o", out + ".native"])
        wasm = open(out + ".code", "rb").read()
        os.unlink(out + ".code")
    big = add_data_segment(wasm, data, DATA_OFFSET)
    with open(out, "wb") as f:
        f.write(big)
    print(f"expect-data {fnv1a(data):08x}")
    print(f"{out}: {len(big) / 1e6:.1f} MB ({len(wasm) / 1e3:.0f} KB without the added data)",
          file=sys.stderr)


main()
