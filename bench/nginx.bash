# nginx serving a static string on loopback, the ceiling of one HTTP hop: the reference
# that bench/http and bench/events print beside weft's figures. Sourced; the caller
# defines NGINX (the binary), TMP (a private folder, deleted by the caller), and the
# functions die MESSAGE and stop_pid PID SIGNAL.
#
# nginx_start: starts nginx on a free port (tried three times, in case another process
# takes the port first), with CORES worker processes and its error log in
# $TMP/nginx.error.log; sets NGINX_PID and NGINX_URL, or dies with the log.

# A free port: the kernel picks one, which the server binds right after.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

CORES=$(nproc)

# nginx_start_on PORT: one try; 0 once it answers.
nginx_start_on() {
    local port=$1 nginx_v temp_paths="" user_line="" m mod dir flag
    nginx_v=$("$NGINX" -V 2>&1)
    # nginx creates its temporary directories at start, at the paths it was built with
    # (/var/lib/nginx/... on Debian): point every one it has at the prefix directory.
    for m in client_body:body fastcgi:fastcgi proxy:proxy scgi:scgi uwsgi:uwsgi; do
        mod=${m%%:*} dir=${m#*:}
        flag=${mod/client_body/client-body}
        [[ $nginx_v == *"--http-$flag-temp-path"* ]] || continue
        [[ $nginx_v == *"--without-http_${mod}_module"* ]] && continue
        temp_paths+="    ${mod}_temp_path $TMP/nginx-$dir;"$'\n'
    done
    # Run by root, nginx would hand its workers to "nobody": keep them this user's.
    (($(id -u) == 0)) && user_line="user $(id -un) $(id -gn);"
    cat >"$TMP/nginx.conf" <<CONF
# A static string, as fast as nginx serves it.
$user_line
daemon off;
master_process on;
worker_processes $CORES;
pid $TMP/nginx.pid;
lock_file $TMP/nginx.lock;
error_log $TMP/nginx.error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
$temp_paths
    keepalive_requests 1000000;  # like weft: no forced reconnect during a run
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type text/plain;
            return 200 "Hello, world!\n";
        }
    }
}
CONF
    "$NGINX" -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/nginx.error.log" </dev/null \
        >>"$TMP/nginx.error.log" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && return 0
        kill -0 "$NGINX_PID" 2>/dev/null || { NGINX_PID=; return 1; }
        sleep 0.1
    done
    return 1
}

nginx_start() {
    local port
    NGINX_URL=
    for _ in 1 2 3; do
        port=$(free_port)
        if nginx_start_on "$port"; then NGINX_URL=http://127.0.0.1:$port/; return 0; fi
        stop_pid "$NGINX_PID" QUIT
        NGINX_PID=
    done
    cat "$TMP/nginx.error.log" >&2
    die "nginx did not start"
}
