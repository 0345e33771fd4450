/* auth: who may reach weft's own endpoints, as Redis's protected mode decides it.
 *
 * weft's own endpoints are /brokers/... (ingest, the events stream, the live page),
 * /_weft/... and the services' API (/kv, /blobs, /docs); never a function's routes, and
 * never /healthz, which health probes reach without credentials. With a token set
 * ([server] token, weft up --token, WEFT_TOKEN), every request to them must carry
 * "Authorization: Bearer TOKEN", from any client, loopback included; a missing or wrong
 * one gets 401 with "WWW-Authenticate: Bearer". With no token, they answer loopback
 * clients only (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) and refuse every other with 403
 * and a body saying how to set a token: an app listening on 0.0.0.0 by mistake exposes
 * its functions, not its stores and logs.
 *
 * The token is compared as SHA-256 digests with CRYPTO_memcmp: the time taken depends on
 * neither the presented token's length nor on how much of it is right.
 */
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

static const char *const guarded[] = {"/brokers", "/_weft", "/kv", "/blobs", "/docs"};

bool weft_gateway_guarded_path(const char *path, size_t len) {
    for (size_t i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
        size_t n = strlen(guarded[i]);
        if (len >= n && !memcmp(path, guarded[i], n) && (len == n || path[n] == '/'))
            return true;
    }
    return false;
}

static bool peer_is_loopback(h2o_req_t *req) {
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (!len)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

/* The token of "Authorization: Bearer TOKEN" (RFC 6750: the scheme in any case), or
 * NULL. */
static const char *bearer(h2o_req_t *req, size_t *len) {
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return NULL;
    const h2o_iovec_t *v = &req->headers.entries[i].value;
    if (v->len < 7 || !h2o_lcstris(v->base, 6, H2O_STRLIT("bearer")) || v->base[6] != ' ')
        return NULL;
    const char *t = v->base + 7;
    size_t n = v->len - 7;
    while (n && *t == ' ')
        t++, n--;
    while (n && t[n - 1] == ' ')
        n--;
    *len = n;
    return t;
}

unsigned weft_gateway_auth(const weft_gateway_t *gw, h2o_req_t *req, const char **why) {
    if (!gw->has_token) {
        if (peer_is_loopback(req))
            return 0;
        *why = "weft's own endpoints (/brokers, /_weft, /kv, /blobs, /docs) answer only "
               "clients on this machine while no token is set. To reach them from "
               "elsewhere, set one ([server] token in weft.toml, weft up --token TOKEN, or "
               "the WEFT_TOKEN environment variable) and send \"Authorization: Bearer "
               "TOKEN\".";
        return 403;
    }
    size_t len = 0;
    const char *t = bearer(req, &len);
    uint8_t digest[32];
    weft_sha256(t ? t : "", t ? len : 0, digest);
    /* Both digests are compared whatever happened before: no early exit to time. */
    int differ = CRYPTO_memcmp(digest, gw->token_digest, sizeof digest);
    if (t && !differ)
        return 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                   H2O_STRLIT("Bearer realm=\"weft\""));
    *why = t ? "the bearer token is not the one weft up was given"
             : "weft's own endpoints need \"Authorization: Bearer TOKEN\" (the token weft up "
               "was given: [server] token, --token or WEFT_TOKEN)";
    return 401;
}
