#!/bin/bash
# Third-party code under weft: a thumbnailer built from Debian's libstb-dev (stb_image,
# stb_image_resize, stb_image_write), reading and writing files through a preopen. The
# same source built natively must produce the very same bytes.
source "$(dirname "$0")/../lib.sh"
G="$GUESTS/wasi_thumbnail.wasm"
mkdir -p "$WORK/img" "$WORK/native"

# Without the headers at build time the guest is a stub that exits 77 and says so.
run "$WEFT" run --dir "$WORK/img::/img" "$G" make /img
if [ "$RC:$OUT" == "77:skip: libstb-dev is not installed" ]; then
  skip "the guest was built without libstb-dev (apt-get install libstb-dev, then rebuild)"
fi
check "make" "$RC:$OUT" "0:made 640x480: ok"
run "$WEFT" run --dir "$WORK/img::/img" "$G" thumb /img/in.png /img/thumb-png.png 160
check "png thumbnail" "$OUT" "in.png 640x480 -> 160x120: ok"
run "$WEFT" run --dir "$WORK/img::/img" "$G" thumb /img/in.jpg /img/thumb-jpg.png 160
check "jpeg thumbnail" "$OUT" "in.jpg 640x480 -> 160x120: ok"
run "$WEFT" run --dir "$WORK/img::/img:readonly" "$G" thumb /img/in.png /img/ro.png 100
check "a read-only preopen: encoding fails cleanly" "$OUT" "in.png 640x480 -> 100x75: failed"
run "$WEFT" run --dir "$WORK/img::/img" "$G" thumb /img/missing.png /img/x.png 100
check_contains "a missing input" "$OUT" "missing.png: can't fopen"

# The native build of the same source, for comparison.
if cc -O2 -w -I/usr/include/stb "$SRC/tests/guests/wasi_thumbnail.c" -o "$WORK/native/thumb" -lm; then
  (cd "$WORK/native" && ./thumb make . >/dev/null && ./thumb thumb in.png thumb-png.png 160 >/dev/null &&
    ./thumb thumb in.jpg thumb-jpg.png 160 >/dev/null)
  for f in in.png in.jpg thumb-png.png thumb-jpg.png; do
    cmp -s "$WORK/img/$f" "$WORK/native/$f" && pass || fail "$f differs from the native build's"
  done
else
  fail "could not build the native comparison"
fi
finish
