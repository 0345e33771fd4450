#!/usr/bin/env bash
# Tiers under load: `weft up` serves a large module (over 1 MB) on the fast tier at
# once, builds the optimized tier in the background and switches new requests to it;
# requests keep succeeding through the switch, with the same answer before and after.
# A restart finds the optimized tier in the cache and serves it from the start.
source "$(dirname "$0")/gw.bash"

command -v wat2wasm >/dev/null || skip "no wat2wasm (Debian package wabt)"
command -v tcc >/dev/null || { fail "no tcc (Debian package tcc): the fast tier cannot be built"; finish; exit; }
DIR=$WORK/app
mkdir -p "$DIR"
expect=$(python3 "$SRC/tests/engine/segments.py" "$DIR/big.wat" 3000 --cgi --pad 1100000)
wat2wasm "$DIR/big.wat" -o "$DIR/big.wasm"
check "wat2wasm" "$?" 0
size=$(stat -c %s "$DIR/big.wasm")
[ "$size" -ge 1000000 ] && pass || fail "the module is $size bytes: too small for the fast tier"
cat >"$DIR/weft.toml" <<T
[[function]]
name = "big"
source = "big.wasm"
route = "/"
T
# wasm2c through a wrapper that counts its runs: the optimized build reuses the fast
# build's translation instead of translating again.
mkdir -p "$WORK/bin"
real_w2c=$(command -v wasm2c)
printf '#!/bin/sh\necho run >>"%s"\nexec "%s" "$@"\n' "$WORK/w2c.runs" "$real_w2c" >"$WORK/bin/wasm2c"
chmod +x "$WORK/bin/wasm2c"
export PATH=$WORK/bin:$PATH
w2c_runs() { if [ -f "$WORK/w2c.runs" ]; then wc -l <"$WORK/w2c.runs"; else echo 0; fi; }
# A cache of its own: the optimized tier must not be there yet.
export XDG_CACHE_HOME=$WORK/tiers-cache
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
check_contains "starts on the fast tier" "$(cat "$DIR/log")" "function big: serving the fast tier"

before=0 after=0 bad=0
for _ in $(seq 1 3000); do
  ready=$(grep -c "function big: optimized tier ready" "$DIR/log")
  get /
  if [ "$STATUS" == 200 ] && [ "$BODY" == "$expect" ]; then
    if [ "$ready" -gt 0 ]; then after=$((after + 1)); else before=$((before + 1)); fi
  else
    bad=$((bad + 1))
    [ $bad -le 3 ] && echo "bad answer: $STATUS [$BODY]" >&2
  fi
  [ "$after" -ge 20 ] && break
  sleep 0.05
done
echo "answers: $before on the fast tier, $after on the optimized one, $bad failed"
check "no request failed through the switch" "$bad" 0
[ "$before" -ge 1 ] && pass || fail "no request was answered by the fast tier"
[ "$after" -ge 20 ] && pass || fail "the optimized tier did not take over ($after answers after)"
stop_weft
check "clean exit" "$STOP_RC" 0
check "both tiers in the cache" "$(ls "$XDG_CACHE_HOME"/weft/*.so | wc -l)" 2
check "one translation served both tiers" "$(w2c_runs)" 1
check "no build folder left" "$(ls -d "$XDG_CACHE_HOME"/weft/tmp-* 2>/dev/null | wc -l)" 0

start_weft "$DIR" || { fail "weft up did not restart"; finish; exit; }
get /
check "restart: answers" "$STATUS $BODY" "200 $expect"
case "$(cat "$DIR/log")" in
  *"serving the fast tier"*) fail "restart: the fast tier served although the optimized one is cached" ;;
  *) pass ;;
esac
stop_weft

# weft compile, auto: the fast tier, then the optimized one from the same translation.
export XDG_CACHE_HOME=$WORK/compile-cache
rm -f "$WORK/w2c.runs"
run "$WEFT" compile "$DIR/big.wasm"
check "weft compile: exit" "$RC" 0
check_contains "weft compile: fast tier first" "$ERR" "fast tier ready"
check "weft compile: both tiers" "$(ls "$XDG_CACHE_HOME"/weft/*.so | wc -l)" 2
check "weft compile: one translation" "$(w2c_runs)" 1
check "weft compile: no build folder left" "$(ls -d "$XDG_CACHE_HOME"/weft/tmp-* 2>/dev/null | wc -l)" 0
finish
