#!/usr/bin/env bash
# The plugin boundary (util.h "Plugins", host.h weft_net_plugin_t): weft exports only
# what the public headers of the layers plugins use declare; weft-net.so binds to
# nothing else and exports its one table; a plugin that is missing, has no table, or
# was built with another version of it is refused with a message naming the file and
# both versions, and `weft up` runs through the table.
source "$(dirname "$0")/../lib.sh"

NET=$(dirname "$WEFT")/weft-net.so
[ -f "$NET" ] || { fail "no weft-net.so beside $WEFT"; finish; exit; }
PUBLIC=(util/util.h engine/engine.h engine/wasm-rt.h app/app.h invoke/invoke.h cli/cli.h
        host/host.h)

# ---- what weft exports ---------------------------------------------------------------
# The public headers without their comments: a name must be declared, not mentioned.
for h in "${PUBLIC[@]}"; do
  gcc -fpreprocessed -dD -E -P "$SRC/src/$h" 2>/dev/null
done >"$WORK/public.h"
[ -s "$WORK/public.h" ] && pass || fail "could not read the public headers"
nm -D --defined-only "$WEFT" | awk '{print $NF}' | grep -E '^weft_' | sort -u >"$WORK/exported"
[ "$(wc -l <"$WORK/exported")" -gt 20 ] && pass || fail "weft exports $(wc -l <"$WORK/exported") weft_ symbols"
while read -r sym; do
  if grep -qw -- "$sym" "$WORK/public.h"; then pass; else
    fail "weft exports $sym, which no public header of a plugin's layers declares"
  fi
done <"$WORK/exported"
# Internals that exist in the binary stay unexported.
nm --defined-only "$WEFT" | awk '{print $NF}' | sort -u >"$WORK/defined"
for sym in weft_toml_parse weft_wasi_fd_get; do
  if ! grep -qx -- "$sym" "$WORK/defined"; then
    fail "$sym is not in weft any more: pick another internal for this check"
  elif grep -qx -- "$sym" "$WORK/exported"; then
    fail "weft exports the internal $sym"
  else
    pass
  fi
done
# What compiled guests need is exported.
for sym in wasm_rt_allocate_memory wasm_rt_trap weft_rt_host_call \
           Z_wasi_snapshot_preview1Z_fd_write; do
  if nm -D --defined-only "$WEFT" | awk '{print $NF}' | grep -qx -- "$sym"; then pass; else
    fail "weft does not export $sym, which compiled guests bind to"
  fi
done

# ---- what weft-net.so needs and offers -------------------------------------------------
nm -D --defined-only "$WEFT" | awk '{print $NF}' | sort -u >"$WORK/weft-all"
nm -D --undefined-only "$NET" | awk '{print $NF}' | grep -E '^(weft_|wasm_rt_|Z_)' |
  sort -u >"$WORK/needed"
[ -s "$WORK/needed" ] && pass || fail "weft-net.so binds to nothing of weft's"
while read -r sym; do
  if grep -qx -- "$sym" "$WORK/weft-all"; then pass; else
    fail "weft-net.so needs $sym, which weft does not export"
  fi
done <"$WORK/needed"
nm -D --defined-only "$NET" | awk '{print $NF}' | grep -E '^weft_' >"$WORK/net-exports"
check "weft-net.so's weft_ exports" "$(tr '\n' ' ' <"$WORK/net-exports")" "weft_net_plugin "

# ---- loading -----------------------------------------------------------------------------
run "$WEFT" up --help
check "weft up --help through the table: status" "$RC" 0
check_contains "weft up --help through the table" "$OUT" "usage: weft up"

ABI=$(sed -nE 's/^#define WEFT_NET_PLUGIN_ABI ([0-9]+)u?$/\1/p' "$SRC/src/host/host.h")
[[ $ABI =~ ^[0-9]+$ ]] && pass || fail "no WEFT_NET_PLUGIN_ABI in host.h"
# fake_plugin DIR ABI SIZE_DELTA: a weft-net.so whose table says version ABI and is
# SIZE_DELTA bytes larger than this weft's.
fake_plugin() {
  mkdir -p "$1"
  cat >"$WORK/fake.c" <<C
#include "host/host.h"
const weft_net_plugin_t weft_net_plugin = {
    .head = {.abi = $2, .size = sizeof(weft_net_plugin_t) + $3, .name = "weft-net"}};
C
  gcc -shared -fPIC -I"$SRC/src" -I"$BUILD_DIR/gen" -o "$1/weft-net.so" "$WORK/fake.c"
}
if fake_plugin "$WORK/other" $((ABI + 1)) 0; then
  WEFT_PLUGIN_DIR=$WORK/other run "$WEFT" up --help
  check "another version: status" "$RC" 1
  check_contains "another version: the file" "$ERR" "$WORK/other/weft-net.so"
  check_contains "another version: both versions" "$ERR" \
    "is version $((ABI + 1)), this weft needs version $ABI"
  WEFT_PLUGIN_DIR=$WORK/other run "$WEFT" run --allow-host https://example.com "$WORK/m.wasm"
  check "another version, weft run --allow-host: status" "$RC" 1
  check_contains "another version, weft run --allow-host" "$ERR" "needs version $ABI"
else
  fail "could not build a plugin of another version"
fi
if fake_plugin "$WORK/size" "$ABI" 8; then
  WEFT_PLUGIN_DIR=$WORK/size run "$WEFT" up --help
  check "another size: status" "$RC" 1
  check_contains "another size" "$ERR" "table weft_net_plugin (version $ABI) is "
  check_contains "another size: this weft's" "$ERR" " bytes, this weft's is "
  check_contains "another size: the file" "$ERR" "$WORK/size/weft-net.so"
else
  fail "could not build a plugin of another size"
fi
mkdir -p "$WORK/none"
echo 'int weft_something_else;' >"$WORK/none.c"
gcc -shared -fPIC -o "$WORK/none/weft-net.so" "$WORK/none.c"
WEFT_PLUGIN_DIR=$WORK/none run "$WEFT" up --help
check "no table: status" "$RC" 1
check_contains "no table" "$ERR" "$WORK/none/weft-net.so has no table weft_net_plugin"
# A weft alone in its folder, with no plugin anywhere.
mkdir -p "$WORK/alone" "$WORK/empty"
cp "$WEFT" "$WORK/alone/weft"
WEFT_PLUGIN_DIR=$WORK/empty run "$WORK/alone/weft" up --help
check "missing: status" "$RC" 1
check_contains "missing" "$ERR" "cannot find weft-net.so"
# ---- weft-dist.so: the stores' distributed backends, loaded only when a location needs them
DIST=$(dirname "$WEFT")/weft-dist.so
if [ -f "$DIST" ]; then
  nm -D --defined-only "$DIST" | awk '{print $NF}' | grep -E '^weft_' >"$WORK/dist-exports"
  check "weft-dist.so's weft_ exports" "$(tr '\n' ' ' <"$WORK/dist-exports")" "weft_dist_plugin "
  nm -D --undefined-only "$DIST" | awk '{print $NF}' | grep -E '^weft_' | sort -u >"$WORK/dist-needed"
  [ -s "$WORK/dist-needed" ] && pass || fail "weft-dist.so binds to nothing of weft's"
  while read -r sym; do
    if grep -qx -- "$sym" "$WORK/weft-all"; then pass; else
      fail "weft-dist.so needs $sym, which weft does not export"
    fi
  done <"$WORK/dist-needed"
  check_contains "weft-dist.so links hiredis" "$(ldd "$DIST")" "libhiredis"
  check_contains "weft-dist.so links libpq" "$(ldd "$DIST")" "libpq"
  for lib in libhiredis libpq; do
    case "$(ldd "$WEFT")" in *"$lib"*) fail "weft links $lib" ;; *) pass ;; esac
    case "$(ldd "$NET")" in *"$lib"*) fail "weft-net.so links $lib" ;; *) pass ;; esac
  done
  # A weft run never loads it (the loader lists every file it opens).
  LD_DEBUG=files "$WEFT" run "$GUESTS/hello.wasm" >/dev/null 2>"$WORK/ld.log"
  if grep -q "weft-dist" "$WORK/ld.log"; then fail "weft run loaded weft-dist.so"; else pass; fi
  # An embedded-only weft up, its stores in use, never maps it.
  mkdir -p "$WORK/app"
  cat >"$WORK/app/weft.toml" <<TOML
[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
TOML
  if weft_up "$WORK/app"; then
    check "an embedded store in use: PUT /kv" \
      "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data v "$URL/kv/default/k")" 201
    maps=$(cat "/proc/$UP/maps")
    check_contains "weft up maps weft-net.so" "$maps" "weft-net.so"
    case "$maps" in *weft-dist*) fail "an embedded-only weft up mapped weft-dist.so" ;; *) pass ;; esac
  else
    fail "weft up did not start: $(cat "$WORK/app/log")"
  fi
  kill "$UP" 2>/dev/null
  wait "$UP" 2>/dev/null
else
  fail "no weft-dist.so beside $WEFT"
fi
finish
