# weft run: arguments, environment, stdio and exit codes pass through; the command line
# behaves as a shell user expects.
. "$TESTS_DIR/lib.sh"
H="$GUESTS/hello.wasm"

run_in "body bytes" "$WEFT" run --env GREETING=hi "$H" one two
check "exit status is the guest's" "$RC" 0
check_contains "argv[0] is the module" "$OUT" "argv[0]=$H"
check_contains "arguments" "$OUT" "argv[1]=one
argv[2]=two"
check_contains "environment" "$OUT" "GREETING=hi"
check_contains "stdin reaches the guest" "$OUT" "body bytes"
check_contains "stderr passes through" "$ERR" "read 10 bytes"

run "$WEFT" run "$H" xyz
check "non-zero exit from main" "$RC" 7
run "$WEFT" run "$H"
check_contains "unset variable stays unset" "$OUT" "GREETING=(unset)"
GREETING=inherited run "$WEFT" run --env GREETING "$H"
check_contains "--env NAME passes weft's value" "$OUT" "GREETING=inherited"

run "$WEFT" run "$GUESTS/traps.wasm" exit 42
check "proc_exit code" "$RC" 42
run "$WEFT" run "$GUESTS/traps.wasm" exit 0
check "proc_exit 0 is success" "$RC" 0

# Floating point through libm, with wasm's rules for NaN, signed zero and rounding.
run "$WEFT" run "$GUESTS/floats.wasm"
check "floats: status" "$RC" 0
check "floats: results" "$OUT" "sqrt 1.414214 3.000
floor -3.0 ceil -2.0 trunc -2.0
nearest 2.0 -2.0 2.0
min -0.0 max 0.0
signbit(min(-0,0)) 1
nan min 1
overflow inf
copysign -3.0"

# A reader that leaves: the guest's writes fail with EPIPE (it says so and exits 3), and
# weft is not killed by SIGPIPE, not even when it has to report a trap on that pipe.
"$WEFT" run "$GUESTS/flood.wasm" 2>"$WORK/flood.err" | head -c 10 >"$WORK/flood.out"
rcs="${PIPESTATUS[*]}"
check "a closed stdout pipe: the exit status is the guest's" "$rcs" "3 0"
check "the guest saw EPIPE" "$(tail -n 1 "$WORK/flood.err")" "EPIPE seen"
check "head read its 10 bytes" "$(wc -c <"$WORK/flood.out")" 10
"$WEFT" run "$GUESTS/flood.wasm" trap 2>&1 | head -c 10 >/dev/null
rcs="${PIPESTATUS[*]}"
check "a trap reported on a closed pipe: 134, not death by SIGPIPE (141)" "$rcs" "134 0"

# The command line.
run "$WEFT" --version
check "--version" "$RC" 0
check_contains "--version prints it" "$OUT" "weft 0."
run "$WEFT" --help
check "--help" "$RC" 0
# The commands listed, one a line under "commands:" (the word "run" alone is in
# the help's first lines whatever the list holds).
check "--help lists every command" \
  "$(printf '%s\n' "$OUT" | sed -n '/^commands:$/,/^$/s/^  \([a-z]\{1,\}\)  .*/\1/p' | tr '\n' ' ')" \
  "run compile new build up cesql send watch describe kv blob doc create "
run "$WEFT" run --help
check "run --help" "$RC" 0
check_contains "run --help is run's" "$OUT" "usage: weft run [options] MODULE [ARGS...]"
check_contains "run --help lists its options" "$OUT" "--max-memory"
run "$WEFT" compile --help
check "compile --help" "$RC" 0
check_contains "compile --help is compile's" "$OUT" "usage: weft compile [options] MODULE.wasm"
run "$WEFT" frobnicate
check "unknown command is a usage error" "$RC" 2
check "usage error is one line" "$(printf '%s\n' "$ERR" | wc -l)" 1
run "$WEFT" run
check "missing module is a usage error" "$RC" 2
run "$WEFT" run --timeout soon "$H"
check "bad duration is a usage error" "$RC" 2
check_contains "bad duration names the value" "$ERR" "--timeout soon"
check_contains "a usage error points at the command's help" "$ERR" "(see 'weft run --help')"
run "$WEFT" run --max-memory lots "$H"
check "bad size is a usage error" "$RC" 2
run "$WEFT" run --bogus "$H"
check "unknown option is a usage error" "$RC" 2
run "$WEFT" run "$WORK/missing.wasm"
check "missing file" "$RC" 1
check_contains "missing file is named" "$ERR" "missing.wasm"
run "$WEFT" run --invoke nothere "$H"
check "missing export" "$RC" 1
check_contains "missing export is named" "$ERR" "nothere"
finish
