#!/usr/bin/env bash
# weft cesql through the weft binary (the command lives in the plugin): the value as
# JSON on stdout and exit 0; on an evaluation error the value the spec says, one line
# naming the error type on stderr, exit 1; the expression is the last argument even
# when it starts with '-'.
source "$(dirname "$0")/../lib.sh"

cat >"$WORK/ev.json" <<'J'
{"specversion":"1.0","id":"7","source":"/orders","type":"io.wasm.event","subject":"s1","amount":42,"vip":true,"data":{"x":1}}
J
run "$WEFT" cesql --event "$WORK/ev.json" "type LIKE 'io.%' AND EXISTS subject"
check "LIKE and EXISTS: exit" "$RC" 0
check "LIKE and EXISTS: value" "$OUT" true
run "$WEFT" cesql --event "$WORK/ev.json" "amount + 1"
check "an integer extension is an Integer" "$OUT" 43
run "$WEFT" cesql --event "$WORK/ev.json" "CONCAT(source, '/', id)"
check "a string value is JSON" "$OUT" '"/orders/7"'
run "$WEFT" cesql --event "$WORK/ev.json" "vip AND NOT EXISTS nothere"
check "a boolean extension" "$OUT" true
run "$WEFT" cesql "5 / 0"
check "math error: exit 1" "$RC" 1
check "math error: the spec's value" "$OUT" 0
check_contains "math error: named on stderr" "$ERR" "math error"
check "math error: one line" "$(printf '%s\n' "$ERR" | wc -l)" 1
run "$WEFT" cesql "INT('abc')"
check "cast error: exit 1" "$RC" 1
check_contains "cast error: named" "$ERR" "cast error"
run "$WEFT" cesql "nosuch = 'x'"
check "missing attribute: exit 1" "$RC" 1
check "missing attribute: value" "$OUT" false
check_contains "missing attribute: named" "$ERR" "missing attribute"
run "$WEFT" cesql "NOSUCHFN(1)"
check_contains "missing function: named" "$ERR" "missing function"
run "$WEFT" cesql "1 +"
check "parse error: exit 1" "$RC" 1
check_contains "parse error: named, with a column" "$ERR" "column"
run "$WEFT" cesql -5
check "an expression starting with '-'" "$RC $OUT" "0 -5"
run "$WEFT" cesql -- "-(1 - 3)"
check "after --" "$OUT" 2
run "$WEFT" cesql
check "no expression: usage error" "$RC" 2
run "$WEFT" cesql --event "$WORK/none.json" "TRUE"
check "a missing file: exit 1" "$RC" 1
check_contains "names it" "$ERR" "none.json"
finish
