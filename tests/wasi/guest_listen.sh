# weft run --tcplisten: a listening socket handed to the guest, which accepts a real
# TCP connection with sock_accept, reads from it and answers (wasmtime's --tcplisten).
. "$TESTS_DIR/lib.sh"
G="$GUESTS/wasi_accept.wasm"
"$WEFT" compile -q "$G" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$WEFT" run --tcplisten "127.0.0.1:$port" "$G" >"$WORK/out" 2>"$WORK/err" &
pid=$!
reply=$(python3 - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        time.sleep(0.05)
s.sendall(b"hello weft\n")
print(s.recv(100).decode().strip())
PY
)
wait $pid
check "guest exits 0" "$?" 0
check "the guest answered over TCP" "$reply" "you said: HELLO WEFT"
check "stdout" "$(cat "$WORK/out")" "served one connection"

run "$WEFT" run --tcplisten "127.0.0.1:$port" --tcplisten "bogus" "$G"
check "a bad address: status" "$RC" 1
check_contains "a bad address: named" "$ERR" "--tcplisten bogus"

# Without a handed-over socket, fd 3 is not a socket for the guest.
run "$WEFT" run "$G"
check "no socket: the guest's accept fails" "$RC" 1
check_contains "no socket: errno (EBADF 8)" "$ERR" "sock_accept: errno 8"
finish
