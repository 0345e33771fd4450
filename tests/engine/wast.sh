# The WebAssembly semantics set: tests/engine/wast/*.wast, each checked first against
# the spec's reference interpreter (wabt's spectest-interp), then run on weft's engine at
# every level it compiles at (the fast tier, tcc; the optimized tier, cc -O2; and the
# lighter level of generated C over 64 MB, forced) by tests/engine/wast.py, results
# compared bit for bit and traps by kind. Run alone:
#   cd build && ctest -R engine.wast --output-on-failure
# or on some files: bash tests/engine/wast.sh FILE.wast... (WEFT, BUILD_DIR set).
. "$TESTS_DIR/lib.sh"
for tool in wast2json spectest-interp; do
  command -v "$tool" >/dev/null || skip "$tool (Debian's wabt) is not installed"
done
# Each level in its own cache folder, kept across runs of one build's tests.
cache="${WEFT_TEST_CACHE:-$WORK/cache}/wast"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$TESTS_DIR"/engine/wast/*.wast)
python3 "$TESTS_DIR/engine/wast.py" --weft "$WEFT" --driver "$BUILD_DIR/tests/driver_engine_wast" \
  --work "$WORK" --cache "$cache" "${files[@]}"
