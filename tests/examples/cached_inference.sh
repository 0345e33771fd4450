#!/usr/bin/env bash
# examples/cached-inference: build.sh builds the trainer, the guest and the model, and the
# held-out accuracy it prints is at least 95%. Held-out digits drawn as PNGs (and one
# JPEG), POSTed to /infer under weft up, get the very sentence the native build of the
# same code gives for the picture and for the raw sample, and name the right digit (all
# but at most one of them). Bad input gets 400 and a reason, bad weights 500 with the
# reason in the log, and the guest computes with the weights it reads: a model trained
# otherwise gives other answers, again the native ones, and the convolution is in the code.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../gateway/gw.bash"

data=$(dpkg -L python3-sklearn 2>/dev/null | grep '/digits\.csv\.gz$' | head -n 1)
[ -n "$data" ] || skip "python3-sklearn is not installed (scikit-learn's digits)"
[ -r /usr/include/stb/stb_image.h ] || skip "libstb-dev is not installed"

EX=$WORK/cached-inference
cp -r "$SRC/examples/cached-inference" "$EX"
rm -rf "$EX/model" "$EX/train" "$EX/infer.wasm" "$EX"/*.png "$EX"/*.jpg
cd "$EX" || exit 1

# build.sh: the trainer reports the split (stratified, a fifth of each digit held out)
# and the accuracy on each part.
run ./build.sh
check "build.sh succeeds, quietly on stderr" "$RC $ERR" "0 "
check_contains "training set" "$OUT" "training accuracy: "
check_contains "training set size" "$OUT" " of 1433)"
check_contains "held-out set size" "$OUT" " of 364)"
acc=$(sed -n 's/^held-out accuracy: \([0-9.]*\)%.*/\1/p' <<<"$OUT")
check "held-out accuracy $acc% is at least 95%" "$(awk -v a="${acc:-0}" 'BEGIN { print (a >= 95) }')" 1
check "weights written" "$([ -s model/digits.weights ] && echo yes)" yes

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
DIR=$EX
right=0
for img in "${images[@]}"; do
  d=${img:1:1}
  get /infer --data-binary "@$img" -H "Content-Type: image/${img##*.}"
  native=$(./train --classify "$img")
  check "$img: 200" "$STATUS" 200
  check "$img: the guest's answer is the native one" "$BODY" "$native"
  case "$BODY" in "The image represents a $d, "* | "The image represents an $d, "*) right=$((right + 1)) ;; esac
done
check "right digits (of ${#images[@]})" "$((right >= ${#images[@]} - 1))" 1

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
  run "$WEFT" run --dir "$EX/model::/model" --env "MODEL=/model/$name.weights" infer.wasm
  check "$name weights: 500" "$(head -n 1 <<<"$OUT")" "Status: 500 Internal Server Error"
  check_contains "$name weights: the reason" "$ERR" "infer: /model/$name.weights: ${case#*:}"
done
infer good.weights d7-0.png
check "weights by \$MODEL: read" "$(tail -n 1 <<<"$OUT")" "$(./train --classify d7-0.png)"

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
