#!/usr/bin/env bash
# examples/cached-inference: its README run as written (readme.bash: every command of its
# console blocks, on a copy of the folder, and the output it shows: build.sh's
# training, the first answer a cache miss, the second a hit, the document under the
# picture's SHA-256). build.sh builds the trainer, the guest and the model, and the
# held-out accuracy it prints is at least 95%. The guest's SHA-256 gives FIPS 180-4's
# test vectors, and the cache's ids are sha256sum's. Held-out digits drawn as PNGs (and
# one JPEG), POSTed to /infer under weft up, get the very sentence the native build of
# the same code gives for the picture and for the raw sample, and name the right digit
# (all but at most one of them); each is a miss, then a hit with the same sentence, and
# a document that is not the function's is replaced. Bad input gets 400 and a reason
# (and caches nothing), bad weights 500 with the reason in the log, and the guest
# computes with the weights it reads: a model trained otherwise gives other answers,
# again the native ones, and the convolution is in the code.
source "$(dirname "$0")/readme.bash"

data=$(dpkg -L python3-sklearn 2>/dev/null | grep '/digits\.csv\.gz$' | head -n 1)
[ -n "$data" ] || skip "python3-sklearn is not installed (scikit-learn's digits)"
[ -r /usr/include/stb/stb_image.h ] || skip "libstb-dev is not installed"

readme_setup cached-inference
rm -rf "$EX/model" "$EX/train" "$EX"/*.png "$EX"/*.jpg
readme_script >"$WORK/script"

# ---- The README, as written ----------------------------------------------------------

n=0
cmd=""
: >"$WORK/expected"
run_pending() {
  [ -n "$cmd" ] || return 0
  n=$((n + 1))
  local c=${cmd//localhost:3000/$HOSTPORT}
  case "$cmd" in
  "cd "*) cd "${cmd#cd }" || fail "$cmd" ;;
  "weft up") readme_up ;;
  "curl localhost:3000/docs/"*) readme_doc_cmd "$cmd" ;;
  *)
    # time's report goes to the shell's stderr: the README shows it after the output.
    bash -c "$c" </dev/null >"$WORK/actual.$n" 2>"$WORK/err.$n"
    check "README: $cmd: exit status" "$?" 0
    [[ "$cmd" == "time "* ]] && cat "$WORK/err.$n" >>"$WORK/actual.$n"
    readme_compare "$cmd" "$WORK/expected" "$WORK/actual.$n"
    [ "$cmd" = ./build.sh ] && { cp "$WORK/actual.$n" "$WORK/build.out"; cp "$WORK/err.$n" "$WORK/build.err"; }
    ;;
  esac
  cmd=""
  : >"$WORK/expected"
}
while IFS=$'\t' read -r kind text; do
  case "$kind" in
  cmd)
    run_pending
    cmd=$text
    ;;
  out) printf '%s\n' "$text" >>"$WORK/expected" ;;
  esac
done <"$WORK/script"
run_pending
check "README: every command ran" "$n" 9

# The two requests the README makes: a miss, then a hit; the document is the picture's.
check "README: the first answer computed" "$(grep -c '^X-Cache: miss' "$WORK"/actual.5)" 1
check "README: the second answer cached" "$(grep -c '^X-Cache: hit' "$WORK"/actual.6)" 1
key=$(sha256sum digit.png | cut -c1-64)
doc=$(readme_doc classifications "$key")
check "README: the document of digit.png's SHA-256" "$doc" '{"digit":7,"confidence":1}'
kill -TERM "$PID"
wait "$PID"
check "weft up stops cleanly" "$?" 0

# build.sh: the trainer reports the split (stratified, a fifth of each digit held out)
# and the accuracy on each part.
OUT=$(cat "$WORK/build.out")
check "build.sh quiet on stderr" "$(cat "$WORK/build.err")" ""
check_contains "training set" "$OUT" "training accuracy: "
check_contains "training set size" "$OUT" " of 1433)"
check_contains "held-out set size" "$OUT" " of 364)"
acc=$(sed -n 's/^held-out accuracy: \([0-9.]*\)%.*/\1/p' <<<"$OUT")
check "held-out accuracy $acc% is at least 95%" "$(awk -v a="${acc:-0}" 'BEGIN { print (a >= 95) }')" 1
check "weights written" "$([ -s model/digits.weights ] && echo yes)" yes

# ---- SHA-256: FIPS 180-4's examples and the NIST vectors -------------------------------
# sha256.c natively, fed in pieces of every size from 1 to 130 bytes, so that blocks
# and padding fall at every offset.
cat >"$WORK/vectors.c" <<'C'
#include "sha256.h"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    static char m[1000000];
    size_t len = strlen(argv[1]);
    if (argc > 2) /* "a" 1,000,000 times */
        memset(m, 'a', len = sizeof m);
    else
        memcpy(m, argv[1], len);
    unsigned char d[32];
    for (size_t piece = 1; piece <= 130; piece++) {
        sha256_t s;
        sha256_init(&s);
        for (size_t off = 0; off < len; off += piece)
            sha256_update(&s, m + off, len - off < piece ? len - off : piece);
        sha256_final(&s, d);
        for (int i = 0; i < 32; i++)
            printf("%02x", d[i]);
        printf("\n");
    }
    char hex[65];
    sha256_hex(m, len, hex);
    printf("%s\n", hex);
    return 0;
}
C
cc -std=c11 -O2 -Wall -Wextra -I "$EX" "$WORK/vectors.c" "$EX/sha256.c" -o "$WORK/vectors" ||
  fail "the test vectors' driver does not build"
vector() { # vector NAME EXPECTED ARGS...: every way of feeding gives EXPECTED
  local name=$1 want=$2
  shift 2
  check "SHA-256 of $name" "$("$WORK/vectors" "$@" | sort -u)" "$want"
}
vector '""' e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ""
vector '"abc"' ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad abc
vector "the 448-bit message" 248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1 \
  abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq
vector "the 896-bit message" cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1 \
  abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu
vector "a million a's" cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0 a million

# Held-out samples drawn as pictures: the native classification of each picture is the
# model's on the raw sample (the preparation undoes the drawing exactly).
images=()
for d in 0 1 2 3 4 5 6 7 8 9; do
  for i in 0 1; do
    run ./train --png "$d" "d$d-$i.png" --index "$i"
    raw=$(sed -n 's/^the model on the sample: //p' <<<"$OUT")
    run ./train --classify "d$d-$i.png"
    check "d$d-$i.png: native on the picture = native on the sample" "$OUT" "$raw"
    images+=("d$d-$i.png")
  done
done
run ./train --png 3 d3-2.jpg --index 2
check "a JPEG drawn" "$RC" 0
images+=(d3-2.jpg)

start_weft "$EX" || exit 1
# A document under a picture's id that is not what the function writes is not trusted.
# Put through weft's HTTP API, as nothing in the example writes such a document.
check "a foreign document put" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
  --data '{"digit":12,"confidence":2}' "$URL/docs/classifications/$(sha256sum d1-0.png | cut -c1-64)")" 201
DIR=$EX
right=0
for img in "${images[@]}"; do
  d=${img:1:1}
  key=$(sha256sum "$img" | cut -c1-64)
  # digit.png, the README's picture, is d7-0.png: cached already.
  first=miss
  [ "$img" = d7-0.png ] && first=hit
  get /infer --data-binary "@$img" -H "Content-Type: image/${img##*.}"
  native=$(./train --classify "$img")
  check "$img: 200" "$STATUS" 200
  check "$img: the guest's answer is the native one" "$BODY" "$native"
  check "$img: X-Cache" "$(sed -n 's/^x-cache: //p' <<<"$HEADERS")" $first
  case "$BODY" in "The image represents a $d, "* | "The image represents an $d, "*) right=$((right + 1)) ;; esac
  doc=$(readme_doc classifications "$key")
  check_contains "$img: the document under sha256sum's id" "$doc" "{\"digit\":$d,\"confidence\":"
  get /infer --data-binary "@$img" -H "Content-Type: image/${img##*.}"
  check "$img again: 200" "$STATUS" 200
  check "$img again: from the cache" "$(sed -n 's/^x-cache: //p' <<<"$HEADERS")" hit
  check "$img again: the same answer" "$BODY" "$native"
done
check "right digits (of ${#images[@]})" "$((right >= ${#images[@]} - 1))" 1
check_contains "the document that was not the function's: replaced" \
  "$(readme_doc classifications "$(sha256sum d1-0.png | cut -c1-64)")" '{"digit":1,"confidence":'
# (digit.png, the README's, is d7-0.png.)
check "documents: one per picture" "$(readme_doc_count classifications)" "${#images[@]}"

# Bad input: a one-line reason and 400.
get /infer --data-binary 'hello, not an image'
check "not an image: status" "$STATUS" 400
check "not an image: reason" "$BODY" "not a PNG or JPEG image (unknown image type)"
get /infer -X POST
check "empty body: status" "$STATUS" 400
check "empty body: reason" "$BODY" "no image: the request body is empty (POST a PNG or JPEG)"
head -c 300 d7-0.png >cut.png
get /infer --data-binary @cut.png
check "truncated PNG: status" "$STATUS" 400
check_contains "truncated PNG: reason" "$BODY" "the image could not be decoded ("
# A PNG whose header says 5000x5000 (stb_image reads no further to know its size).
printf '\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x13\x88\0\0\x13\x88\x08\0\0\0\0\0\0\0\0\0\0\0\0IEND' >huge.png
get /infer --data-binary @huge.png
check "5000x5000: status" "$STATUS" 400
check "5000x5000: reason" "$BODY" "the image is 5000x5000, more than 4 megapixels: scale it down"
head -c $((8 << 20)) /dev/zero >big.bin
printf x >>big.bin
get /infer --data-binary @big.bin
check "8 MiB + 1 byte: status" "$STATUS" 400
check "8 MiB + 1 byte: reason" "$BODY" "the image is larger than 8 MiB"
get /infer --data-binary 'hello, not an image'
check "not an image again: not cached" "$STATUS" 400
check "bad input cached nothing" "$(readme_doc_count classifications)" "${#images[@]}"
stop_weft

# Bad weights: 500, and the reason on stderr (the log, under weft up).
infer() { # infer WEIGHTS IMAGE: as run, the guest under weft run, the model folder as /model
  "$WEFT" run --dir "$EX/model::/model" --env "MODEL=/model/$1" infer.wasm <"$2" \
    >"$WORK/out" 2>"$WORK/err"
  RC=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}
cp model/digits.weights model/good.weights
head -c 1000 model/digits.weights >model/short.weights
{ printf 'DIGITCNX'; tail -c +9 model/digits.weights; } >model/magic.weights
cp model/digits.weights model/flip.weights
printf '\x7f' | dd of=model/flip.weights bs=1 seek=5000 conv=notrunc status=none
# The version word, 1, made 2.
cp model/digits.weights model/v2.weights
printf '\x02' | dd of=model/v2.weights bs=1 seek=8 conv=notrunc status=none
for case in "missing:cannot open the weights: No such file or directory" \
  "short:truncated weights file (69072 bytes expected)" \
  "magic:not a weights file (it does not start with DIGITCNN)" \
  "flip:corrupted weights (hash " "v2:version 2, where this program has 1"; do
  name=${case%%:*}
  infer "$name.weights" d7-0.png
  check "$name weights: 500" "$(head -n 1 <<<"$OUT")" "Status: 500 Internal Server Error"
  check_contains "$name weights: the reason" "$ERR" "infer: /model/$name.weights: ${case#*:}"
done
infer good.weights d7-0.png
check "weights by \$MODEL: read" "$(tail -n 1 <<<"$OUT")" "$(./train --classify d7-0.png)"
check_contains "weft run has no stores: computed, and said" "$ERR" "infer: no cache: "

# The guest computes with the weights it reads: a model trained for one epoch with
# another seed answers otherwise, and the guest gives its native answers too.
run ./train --seed 7 --epochs 1 --out model/other.weights
check "another model trained" "$RC" 0
differ=0
for img in d1-0.png d5-0.png d8-0.png d9-1.png d3-2.jpg; do
  infer other.weights "$img"
  check "$img with other weights: the native answer" "$(tail -n 1 <<<"$OUT")" \
    "$(./train --classify "$img" --weights model/other.weights)"
  [ "$(tail -n 1 <<<"$OUT")" = "$(./train --classify "$img")" ] || differ=$((differ + 1))
done
check "other weights, other answers (of 5)" "$((differ >= 3))" 1
# And the convolution is code in the module: digits_forward's body multiplies floats in
# loops (the weights come from a file, so the compiler could not fold them away).
if command -v wasm-objdump >/dev/null; then
  body=$(wasm-objdump -d infer.wasm | awk '/ func\[[0-9]+\] <digits_forward>:/ { p = 1; next }
                                           / func\[[0-9]+\] </ { p = 0 } p')
  check "digits_forward: loops" "$(grep -c ' loop' <<<"$body" | awk '{ print ($1 >= 4) }')" 1
  check "digits_forward: f32.mul" "$(grep -c 'f32\.mul' <<<"$body" | awk '{ print ($1 >= 3) }')" 1
fi

finish
