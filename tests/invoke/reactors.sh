# WASI reactors and `weft run --invoke`, as wasmtime runs them: a module's _initialize
# runs once per instance, before the export called; --invoke reads the arguments as the
# export's parameter types and prints its results one a line; a module that is both a
# command and a reactor runs _initialize then _start; one that is neither is only
# instantiated, and weft says so.
. "$TESTS_DIR/lib.sh"

R="$GUESTS/reactor.wasm"
# Compiled first, so that stderr below holds the guests' lines alone.
for g in reactor reactor_both reactor_neither hello; do
  "$WEFT" compile -q "$GUESTS/$g.wasm" >/dev/null || fail "compile $g"
done

# The guest's constructor (wasi-libc's _initialize runs it) counts its runs and says so
# on stderr; report prints the count it sees.
run "$WEFT" run --invoke report "$R"
check "reactor: the export runs" "$RC" 0
check "reactor: _initialize ran once, before the export" "$OUT" "inits=1 calls=1"
check "reactor: _initialize ran once (its own line)" "$ERR" "reactor: _initialize ran"

# Naming _initialize itself does not run it twice.
run "$WEFT" run --invoke _initialize "$R"
check "--invoke _initialize: status" "$RC" 0
check "--invoke _initialize: it runs once" "$ERR" "reactor: _initialize ran"
check "--invoke _initialize: no results, nothing printed" "$OUT" ""

run "$WEFT" run --invoke inits "$R"
check "an export's result is printed" "$OUT" "1"

# Arguments are read as the parameters' types; results print as wasmtime prints them.
run "$WEFT" run --invoke add "$R" 2 40
check "i32 + i32" "$OUT" "42"
run "$WEFT" run --invoke add "$R" 0x7fffffff 1
check "i32 in hex, the result wraps and prints signed" "$OUT" "-2147483648"
run "$WEFT" run --invoke add "$R" -5 3 more args
check "negative arguments; extra ones are ignored (they are the guest's argv too)" "$OUT" "-2"
run "$WEFT" run --invoke mul64 "$R" -3 123456789012
check "i64 * i64" "$OUT" "-370370367036"
run "$WEFT" run --invoke scale "$R" 1.5 0.1
check "f32 * f64, the shortest f64 that reads back" "$OUT" "0.15000000000000002"
run "$WEFT" run --invoke third "$R" 1
check "f32 result, as short as an f32 needs" "$OUT" "0.33333334"
run "$WEFT" run --invoke scale "$R" 1 1e21
check "no exponent in a float result" "$OUT" "1000000000000000000000"
run "$WEFT" run --invoke scale "$R" inf 1
check "infinity" "$OUT" "inf"

run "$WEFT" run --invoke add "$R" 1
check "too few arguments: status" "$RC" 1
check "too few arguments: says what the export takes" "$ERR" \
  "weft: $R: 'add' takes 2 arguments, (func (param i32 i32) (result i32)); 1 given"
run "$WEFT" run --invoke add "$R" 1 x
check "an argument of the wrong type: status" "$RC" 1
check "an argument of the wrong type: names it" "$ERR" \
  "weft: $R: 'add' takes (func (param i32 i32) (result i32)): argument 2, 'x', is not an i32"
run "$WEFT" run --invoke add "$R" 1 4294967296
check "an i32 out of range is refused" "$RC" 1
run "$WEFT" run --invoke nope "$R"
check "no such export: status" "$RC" 1
check "no such export: says what the module exports" "$ERR" \
  "weft: $R has no exported function 'nope': it is a reactor (it exports _initialize and no _start); its functions are _initialize, report, add, mul64, scale, third, inits, fail, handle"

# How an invoked export ends is how the run ends.
run "$WEFT" run --invoke fail "$R" 0
check "a trap in the export: status" "$RC" 134
check_contains "a trap in the export: named" "$ERR" "weft: $R: trap: unreachable instruction executed"
check "a trap: no result printed" "$OUT" ""
run "$WEFT" run --invoke fail "$R" 7
check "proc_exit in the export: its status" "$RC" 7

# A reactor run without --invoke: wasmtime instantiates it, runs _initialize and stops.
run "$WEFT" run "$R"
check "reactor without --invoke: status 0, as wasmtime" "$RC" 0
check "reactor without --invoke: nothing on stdout" "$OUT" ""
check_contains "reactor without --invoke: _initialize ran" "$ERR" "reactor: _initialize ran"
check_contains "reactor without --invoke: weft says what to do" "$ERR" \
  "weft: $R is a reactor (it exports _initialize and no _start): ran its _initialize only; to call one of its functions, name it with --invoke NAME (its functions: _initialize, report,"

# Both a command and a reactor: _initialize, then _start, as wasmtime.
run "$WEFT" run "$GUESTS/reactor_both.wasm"
check "both: status" "$RC" 0
check "both: _start ran after one _initialize" "$OUT" "both: main after 1 _initialize"
check "both: _initialize ran once" "$ERR" "both: _initialize"

# Neither: instantiated only, unless --invoke names a function.
run "$WEFT" run "$GUESTS/reactor_neither.wasm"
check "neither: status 0, as wasmtime" "$RC" 0
check "neither: weft says why nothing ran" "$ERR" \
  "weft: $GUESTS/reactor_neither.wasm exports neither _start nor _initialize: instantiated it only; to call one of its functions, name it with --invoke NAME (its functions: answer)"
run "$WEFT" run --invoke answer "$GUESTS/reactor_neither.wasm"
check "neither: --invoke calls its function" "$OUT" "42"

# A command's _start through --invoke: no results, nothing printed but the guest's own.
run "$WEFT" run --invoke _start "$GUESTS/hello.wasm" arg
check "--invoke _start: status" "$RC" 0
check "--invoke _start: the guest's output, its argv the module and the arguments" \
  "$(printf '%s\n' "$OUT" | head -n 2)" "$(printf 'argc=2\nargv[0]=%s' "$GUESTS/hello.wasm")"
finish
