#!/bin/bash
# A guest tries every way out of its preopen through wasi-libc; none works and the host
# outside the sandbox is left exactly as it was.
source "$(dirname "$0")/../lib.sh"
S="$WORK/sandbox"
O="$WORK/outside"
mkdir -p "$S/a" "$O"
printf 'outside secret' >"$O/secret"
echo mine >"$S/mine"
ln -s "$O/secret" "$S/abs"
ln -s ../outside/secret "$S/rel"
ln -s .. "$S/updir"
snapshot() { (cd "$O" && find . -printf '%p %y %s %n %T@\n' | sort && cat secret); }
before=$(snapshot)

run "$WEFT" run --dir "$S::/sandbox" "$GUESTS/wasi_escape.wasm" "$O"
check "no attempt escaped" "$RC" 0
check "summary" "$(printf '%s\n' "$OUT" | tail -1)" "escaped: 0"
for attempt in dotdot dotdot-deep absolute-host-path etc-passwd absolute-symlink \
  relative-symlink symlinked-dir create-through-symlinked-dir create-dotdot mkdir-out \
  unlink-out rename-out rename-in link-out link-in own-relative-symlink \
  own-absolute-symlink own-dir-symlink; do
  # Whole lines: "link-out: refused" is also the end of "unlink-out: refused".
  check "$attempt refused" "$(printf '%s\n' "$OUT" | grep -c "^$attempt: refused (")" 1
done
case "$OUT" in *"outside secret"*) fail "the secret reached the guest's output" ;; *) pass ;; esac
check "outside untouched" "$(snapshot)" "$before"
check "mine still inside" "$(cat "$S/mine")" "mine"
[ -e "$S/stolen" ] && fail "stolen exists" || pass

finish
