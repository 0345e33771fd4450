#!/usr/bin/env bash
# store: documents and blobs on PostgreSQL (src/dist/doc_pg.c, blob_pg.c, in
# weft-dist.so). A PostgreSQL server of the test's own (initdb in $WORK, a Unix socket
# only, fsync off: the test is about behaviour, not the disk; as the user postgres, or
# nobody, when the test runs as root, since PostgreSQL refuses to run as root); then:
# the conformance suite's document and blob tests with the location
# postgresql:///postgres?host=SOCKETDIR&user=weft&schema=%s (each test its own schema);
# the GIN index queries use; a server restarted while a blob is being written: the blob
# is not visible before its commit, and the commit after the restart makes it whole; a
# server stopped under a chunk's write: the write fails naming the server, the commit
# then fails, and nothing of the blob is visible or left behind.
source "$(dirname "$0")/../lib.sh"

PGBIN=
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PGBIN=$d; done
[ -n "$PGBIN" ] || skip "no PostgreSQL server (apt-get install postgresql)"
CONF=$BUILD_DIR/tests/test_store_conformance
DRIVER=$BUILD_DIR/tests/driver_store_dist
for f in "$CONF" "$DRIVER" "$BUILD_DIR/weft-dist.so"; do
  [ -e "$f" ] || { fail "no $f: build first"; finish; exit 1; }
done
export WEFT_PLUGIN_DIR=$BUILD_DIR
PG=$WORK/pg
mkdir -p "$PG"
as_owner() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  OWNER=nobody
  id postgres >/dev/null 2>&1 && OWNER=postgres
  chmod 711 "$WORK"
  chown "$OWNER" "$PG"
  as_owner() { runuser -u "$OWNER" -- "$@"; }
fi
STARTED=
trap '[ -n "$STARTED" ] && as_owner "$PGBIN/pg_ctl" -D "$PG/data" -m immediate stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT
(cd / && as_owner "$PGBIN/initdb" -D "$PG/data" -U weft --auth=trust -E UTF8 --no-sync \
  >"$WORK/initdb.log" 2>&1) || { fail "initdb: $(tail -3 "$WORK/initdb.log")"; finish; exit 1; }
start_pg() {
  (cd / && as_owner "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t 20 \
    -o "-k $PG -c listen_addresses='' -c fsync=off" start >/dev/null) ||
    { fail "pg_ctl start: $(tail -3 "$PG/log")"; finish; exit 1; }
  STARTED=1
}
stop_pg() {
  (cd / && as_owner "$PGBIN/pg_ctl" -D "$PG/data" -m fast -w stop >/dev/null)
  STARTED=
}
sql() { "$PGBIN/psql" -h "$PG" -U weft -d postgres -XAtqc "$1"; }
start_pg
LOC="postgresql:///postgres?host=$PG&user=weft"

# ---- conformance ------------------------------------------------------------------------
run "$CONF" "$LOC&schema=%s" doc_
check "conformance (documents): status ($(grep -m3 -E 'FAIL|fail' <<<"$OUT$ERR"))" "$RC" 0
check_contains "conformance ran the document tests" "$OUT" "-- doc_query"
run "$CONF" "$LOC&schema=%s" blob_
check "conformance (blobs): status ($(grep -m3 -E 'FAIL|fail' <<<"$OUT$ERR"))" "$RC" 0
check_contains "conformance ran the blob tests" "$OUT" "-- blob_threads"
echo "$OUT" | tail -1

# ---- the index a query uses -------------------------------------------------------------
# A collection of 5000 documents of which a few are red: the condition, not the
# collection, is what narrows the search, and the GIN index serves it.
sql "INSERT INTO \"doc-query\".docs SELECT 'things', 'g' || i, '{}', jsonb_build_object('color',
  'c' || i), nextval('\"doc-query\".doc_versions') FROM generate_series(1, 5000) i;
  ANALYZE \"doc-query\".docs" >/dev/null
plan=$(sql "EXPLAIN SELECT id FROM \"doc-query\".docs WHERE collection = 'things' AND
  doc @> '{\"color\": \"red\"}' ORDER BY id LIMIT 11")
check_contains "a query's condition is served by the GIN index ($plan)" "$plan" "Bitmap Index Scan on docs_doc"

# ---- weft up with [store] documents on PostgreSQL ---------------------------------------
# A guest's document and blob through weft up land in PostgreSQL (blobs follow the
# documents' location), and a second weft up with the same weft.toml reads them; its
# key-value stays embedded.
mkdir -p "$WORK/app"
cat >"$WORK/app/weft.toml" <<TOML
[store]
documents = "$LOC&schema=app"

[[function]]
name = "svc"
source = "$GUESTS/svc.wasm"
route = "/svc/..."
key_value_stores = ["default"]
document_collections = ["d"]
blob_containers = ["c"]
TOML
if weft_up "$WORK/app"; then
  body=$(curl -s "$URL/svc/write_one?5")
  check_contains "the guest's put" "$body" "doc=0"
  check_contains "the guest's blob" "$body" "blob=0"
  check "the document is in PostgreSQL" "$(sql "SELECT body FROM app.docs WHERE id = 'x'")" "{}"
  check "the blob is in PostgreSQL" "$(sql "SELECT size FROM app.blobs")" 5
  [ -e "$WORK/app/.weft/stores/kv.db" ] && pass || fail "no embedded kv.db"
  # A second node with the same weft.toml (its own folder) reads what the first wrote.
  mkdir -p "$WORK/app2"
  cp "$WORK/app/weft.toml" "$WORK/app2/"
  UP1=$UP URL1=$URL
  weft_up "$WORK/app2" || fail "the second node did not start"
  UP2=$UP URL2=$URL UP=$UP1 URL=$URL1
  check "a second node reads the first one's document" "$(curl -s "$URL2/docs/d/x")" "{}"
  check "... and its blob" "$(curl -s "$URL2/blobs/c/x" | wc -c)" 5
  kill "$UP2" 2>/dev/null
  wait "$UP2" 2>/dev/null
else
  fail "weft up did not start: $(cat "$WORK/app/log")"
fi
kill "$UP" 2>/dev/null
wait "$UP" 2>/dev/null
printf '[store]\nkey_value = "stores"\n' >"$WORK/app/weft.toml"
run "$WEFT" up -c "$WORK/app/weft.toml" --listen 127.0.0.1:0
check_contains "[store] wants a URL" "$ERR" "[store] key_value: expected a URL"

# ---- a restart while a blob is written --------------------------------------------------
coproc DRV { "$DRIVER" - "$LOC&schema=restart&retry=5000" 2>"$WORK/driver.err"; }
# Bash forgets DRV_PID (and DRV) once the coprocess ends, which may be before the wait.
drv_pid=$DRV_PID
drv_in=${DRV[1]}
ask() {
  echo "$1" >&"${DRV[1]}"
  ANSWER=
  read -r -t 30 ANSWER <&"${DRV[0]}"
}
read -r -t 30 ANSWER <&"${DRV[0]}"
check "driver ready" "$ANSWER" ready
[ "$ANSWER" == ready ] || { finish; exit 1; }
ask "blob-open c whole"
ask "blob-write 3000000"
check "2 chunks written, 1 filling" "$ANSWER" ok
stop_pg
start_pg
ask "blob-stat c whole"
check_contains "not visible before its commit" "$ANSWER" "error ENOTFOUND"
ask "blob-write 1000000"
check "written after the restart (reconnected)" "$ANSWER" ok
ask "blob-commit"
check "the commit after the restart" "$ANSWER" "ok 4000000"
ask "blob-stat c whole"
check "visible whole" "$ANSWER" "ok 4000000"

# ---- the server gone under a chunk's write ----------------------------------------------
ask "blob-open c half"
ask "blob-write 1500000"
check "1 chunk written, 1 filling" "$ANSWER" ok
stop_pg
ask "blob-write 1000000"
check_contains "a chunk's write with the server down: fails" "$ANSWER" "error EIO: "
check_contains "a chunk's write with the server down: names it" "$ANSWER" "postgresql $PG/postgres"
start_pg
ask "blob-commit"
check_contains "the commit after a failed write" "$ANSWER" "error "
ask "blob-stat c half"
check_contains "nothing visible" "$ANSWER" "error ENOTFOUND"
ask "blob-list c"
check "listed: the whole blob only" "$ANSWER" "ok whole"
check "no chunk left that no blob names" \
  "$(sql "SELECT count(*) FROM restart.blob_chunks WHERE data NOT IN (SELECT data FROM restart.blobs)")" 0
check "no writer left pending" "$(sql "SELECT count(*) FROM restart.blob_pending")" 0
exec {drv_in}>&-
wait "$drv_pid" 2>/dev/null
log=$(cat "$WORK/driver.err")
check_contains "the loss is logged" "$log" "postgresql $PG/postgres: connection lost"
check_contains "the reconnection is logged" "$log" "postgresql $PG/postgres: reconnected"
stop_pg
finish
