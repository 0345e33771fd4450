#!/usr/bin/env python3
"""Writes a module (WebAssembly text) large enough to be compiled in several units,
whose functions read passive data segments (memory.init) and drop them (data.drop),
spread over the whole module, beside an active segment. The module prints one line:
a hash of what every function computed and of the memory the segments were copied
into. This script prints the line the module must print.

usage: segments.py OUT.wat [FUNCS] [--cgi] [--pad BYTES]
  --cgi        print a CGI header first ("Content-Type: text/plain" and a blank line),
               so that the module answers HTTP requests
  --pad BYTES  add an active segment of BYTES pseudo-random bytes (a larger file)
"""
import sys

args = [a for a in sys.argv[1:]]
cgi = '--cgi' in args
pad = 0
if '--pad' in args:
    pad = int(args[args.index('--pad') + 1])
    del args[args.index('--pad'):args.index('--pad') + 2]
args = [a for a in args if a != '--cgi']
out = args[0]
nfuncs = int(args[1]) if len(args) > 1 else 3000
HEADER = b"Content-Type: text/plain\n\n"
NSEG = 12
M32 = 0xFFFFFFFF
ACTIVE = b"active segment.."
AREA = 4096  # where the segments are copied to, 16 bytes apart


def seg_bytes(k):
    return bytes(((k * 37 + i * 11) & 0xFF) for i in range(16))


# Function i: x -> (x * (2i+1) + i) ^ (x >> 3), in 32-bit arithmetic; some also copy a
# passive segment into memory, or drop one. Segment k is copied by the function at
# k * step and dropped (even k) by the one right after: a later copy of length 0 of a
# dropped segment is still allowed.
step = nfuncs // NSEG
lines = ['(module',
         '  (import "wasi_snapshot_preview1" "fd_write"',
         '    (func $fd_write (param i32 i32 i32 i32) (result i32)))',
         '  (memory (export "memory") %d)' % (1 + (16384 + pad + 65535) // 65536),
         '  (data (i32.const 0) "%s")' % ACTIVE.decode()]
for k in range(NSEG):
    lines.append('  (data $p%d "%s")' % (k, ''.join('\\%02x' % b for b in seg_bytes(k))))
if pad:
    state = 1
    chunk = []
    for i in range(pad):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        chunk.append('\\%02x' % (state >> 16 & 0xFF))
    lines.append('  (data (i32.const 16384) "%s")' % ''.join(chunk))
copies, drops = {}, {}
for k in range(NSEG):
    copies[k * step] = k
    if k % 2 == 0:
        drops[k * step + 1] = k
for i in range(nfuncs):
    body = ['  (func $f%d (param $x i32) (result i32)' % i]
    if i in copies:
        k = copies[i]
        body.append('    (memory.init $p%d (i32.const %d) (i32.const 0) (i32.const 16))'
                    % (k, AREA + 16 * k))
    if i in drops:
        k = drops[i]
        body.append('    (data.drop $p%d)' % k)
        body.append('    (memory.init $p%d (i32.const %d) (i32.const 0) (i32.const 0))'
                    % (k, AREA))
    body.append('    (i32.xor (i32.add (i32.mul (local.get $x) (i32.const %d)) (i32.const %d))'
                % (2 * i + 1, i))
    body.append('             (i32.shr_u (local.get $x) (i32.const 3))))')
    lines += body
# _start: chain every function, then fold in the memory the segments were copied to
# and the active segment, print the hash as 8 hex digits and a newline.
lines.append('  (func $hash (param $h i32) (param $from i32) (param $n i32) (result i32)')
lines.append('    (block $done (loop $next')
lines.append('      (br_if $done (i32.eqz (local.get $n)))')
lines.append('      (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load8_u (local.get $from)))')
lines.append('                             (i32.const 16777619)))')
lines.append('      (local.set $from (i32.add (local.get $from) (i32.const 1)))')
lines.append('      (local.set $n (i32.sub (local.get $n) (i32.const 1)))')
lines.append('      (br $next)))')
lines.append('    (local.get $h))')
lines.append('  (func (export "_start") (local $h i32) (local $i i32)')
lines.append('    (local.set $h (i32.const 12345))')
for i in range(nfuncs):
    lines.append('    (local.set $h (call $f%d (local.get $h)))' % i)
lines.append('    (local.set $h (call $hash (local.get $h) (i32.const %d) (i32.const %d)))'
             % (AREA, 16 * NSEG))
lines.append('    (local.set $h (call $hash (local.get $h) (i32.const 0) (i32.const %d)))'
             % len(ACTIVE))
lines.append('    (local.set $i (i32.const 8))')
lines.append('    (block $done (loop $digit')
lines.append('      (br_if $done (i32.eqz (local.get $i)))')
lines.append('      (local.set $i (i32.sub (local.get $i) (i32.const 1)))')
lines.append('      (i32.store8 (i32.add (i32.const 8192) (local.get $i))')
lines.append('        (i32.load8_u (i32.add (i32.const 8208) (i32.and (local.get $h) (i32.const 15)))))')
lines.append('      (local.set $h (i32.shr_u (local.get $h) (i32.const 4)))')
lines.append('      (br $digit)))')
lines.append('    (i32.store8 (i32.const 8200) (i32.const 10))')
if cgi:
    lines.append('    (i32.store (i32.const 8224) (i32.const 8240))')
    lines.append('    (i32.store (i32.const 8228) (i32.const %d))' % len(HEADER))
    lines.append('    (drop (call $fd_write (i32.const 1) (i32.const 8224) (i32.const 1) (i32.const 8232)))')
lines.append('    (i32.store (i32.const 8224) (i32.const 8192))')
lines.append('    (i32.store (i32.const 8228) (i32.const 9))')
lines.append('    (drop (call $fd_write (i32.const 1) (i32.const 8224) (i32.const 1) (i32.const 8232))))')
lines.append('  (data (i32.const 8208) "0123456789abcdef")')
if cgi:
    lines.append('  (data (i32.const 8240) "%s")' % ''.join('\\%02x' % b for b in HEADER))
lines.append(')')
with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')

# The expected line.
h = 12345
for i in range(nfuncs):
    h = ((h * (2 * i + 1) + i) & M32) ^ (h >> 3)
mem = bytearray(16 * NSEG)
for k in range(NSEG):
    mem[16 * k:16 * k + 16] = seg_bytes(k)
for b in bytes(mem) + ACTIVE:
    h = ((h ^ b) * 16777619) & M32
print('%08x' % h)
