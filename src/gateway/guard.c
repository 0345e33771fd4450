/* guard: what h2o 2.2 leaves undone while an HTTP/1 connection waits for a request head.
 *
 * h2o 2.2.5 (Debian's libh2o-evloop) reads HTTP/1 heads itself, and some of what it does
 * is unsafe behind a proxy, or lets a client hold the server:
 *   - of several Content-Length headers it keeps the first, it lets Transfer-Encoding win
 *     over Content-Length, and it shows neither to its user: a request whose length two
 *     parsers read differently (request smuggling) reaches on_request unseen;
 *   - a head over H2O_MAX_REQLEN (about 408 KiB), or with more than H2O_MAX_HEADERS (100)
 *     headers, gets 400 rather than 431;
 *   - one timer (http1.req_timeout) runs from the end of an answer until the next head is
 *     whole, and on expiry closes without a word: no 408, and a slow head gets as long
 *     as an idle keep-alive connection.
 *
 * So while a connection waits for a head, the guard stands in front of h2o's read
 * callback (h2o_socket_t._cb.read, a public field of the socket). On each read it parses
 * what has arrived with h2o's own parser, picohttpparser, and
 *   - a whole head: checks Content-Length and Transfer-Encoding across all its headers
 *     (400 when the length is ambiguous), steps aside and hands the read to h2o, which
 *     parses the same bytes the same way;
 *   - an incomplete head: waits, or answers 431 once max_header_bytes have come;
 *   - more than H2O_MAX_HEADERS headers: 431;
 *   - bytes that are no HTTP/1 head (a parse error, or HTTP/2's "PRI *" preface): steps
 *     aside for h2o to answer 400, or to switch to HTTP/2.
 * Its own answers (refuse) are written without h2o, whose connection goes on waiting for
 * a head that never comes: h2o sees none of the refused bytes, the answer says
 * Connection: close, the socket is shut for writing once it is out, and what the client
 * still sends is read and dropped (a lingering close: closing with unread bytes would
 * reset the connection, and the client could lose the answer) until the client closes or
 * WEFT_GUARD_LINGER_MS pass. Then h2o gets a read error, and closes the connection itself.
 *
 * When the guard stands in front. From accept until the first head is whole (over TLS,
 * from the end of the handshake, which the guard runs itself so as to see when h2o's
 * HTTP/1 takes the socket over; a connection that negotiated h2 is h2o's for good); then
 * again after each answer: h2o frees a request's memory pool right before it turns to the
 * next head, and a hook in that pool (weft_guard_request) marks the connection. h2o then
 * sets its own read callback again, so the guard takes its place before the loop's next
 * turn (weft_guard_arm, from io_main), before anything more is read. A request pipelined
 * behind the one answered is already in h2o's buffer, and h2o parses it at once: the hook
 * checks it first, knowing where it starts (h2o consumes the answered request's head, as
 * the guard measured it, and its body, req->entity.len, decoded in place when chunked),
 * and hides it from h2o when it must be refused. Should a head ever reach on_request
 * unread by the guard, the request is refused (400, logged as a bug), not trusted.
 *
 * Deadlines. Three lists per I/O thread, each in the order of its deadlines, are swept
 * every tick (server.c): connections waiting for a head (since accept, or since the
 * first byte of the next head on a kept-alive one) get 408, or are closed without a word
 * when nothing came at all; kept-alive ones idle for idle_timeout are closed; refused ones
 * are closed at the end of their lingering. h2o's req_timeout stays as a backstop that
 * fires after all of these. HTTP/2 keeps h2o's own handling (http2.idle_timeout).
 */
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

/* After h2o.h (internal.h), which they need. */
#include <h2o/http1.h>
#include <h2o/http2.h>

/* picohttpparser, as built into libh2o-evloop.so, which exports it (Debian installs no
 * header for it): h2o's own HTTP/1 parser, so that the guard reads a head exactly as h2o
 * does. Declared here only. */
struct phr_header {
    const char *name; /* NULL for a folded line continuing the previous header */
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

/* How long a refused connection is read and dropped before it is closed anyway. */
#define WEFT_GUARD_LINGER_MS 2000u

enum {
    GUARD_OFF,         /* h2o has the connection: a request under way, HTTP/2, closing */
    GUARD_TLS,         /* the guard runs the TLS handshake (wait_head) */
    GUARD_HEAD,        /* in front: a head is awaited, or part of one came (wait_head) */
    GUARD_IDLE,        /* in front: kept alive, nothing of a next head yet (wait_idle) */
    GUARD_REFUSED,     /* its own answer written or being written (wait_linger) */
    GUARD_PEND_IDLE,   /* answered; weft_guard_arm puts it in front, GUARD_IDLE ... */
    GUARD_PEND_HEAD,   /* ... GUARD_HEAD (part of a pipelined head is in the buffer) ... */
    GUARD_PEND_REFUSE, /* ... or refuses the pipelined head it hid from h2o */
};

/* The error handed to h2o's read callback to make it close the connection. */
static const char guard_closed[] = "closed by weft's head guard";

static uint64_t now_ms(void) {
    return weft_now_ns() / 1000000u;
}

static uint64_t ms_of(uint64_t ns) {
    uint64_t ms = (ns + 999999u) / 1000000u;
    return ms ? ms : 1;
}

uint64_t weft_guard_backstop_ms(const weft_gateway_t *gw) {
    /* The longest a connection can wait while guarded: idle, then a head arriving
     * slowly, then refused and lingering; plus a margin of many ticks. */
    return ms_of(gw->cfg.idle_timeout_ns) + ms_of(gw->cfg.header_timeout_ns) +
           WEFT_GUARD_LINGER_MS + 5000u;
}

void weft_guard_init(io_thread_t *io) {
    h2o_linklist_init_anchor(&io->wait_head);
    h2o_linklist_init_anchor(&io->wait_idle);
    h2o_linklist_init_anchor(&io->wait_linger);
    h2o_linklist_init_anchor(&io->guard_pending);
}

static void wait_unlink(conn_entry_t *e) {
    if (h2o_linklist_is_linked(&e->wait))
        h2o_linklist_unlink(&e->wait);
}

/* Appends e to a wait list; its deadline is the latest in it. */
static void wait_append(conn_entry_t *e, h2o_linklist_t *list) {
    wait_unlink(e);
    e->since_ms = now_ms();
    h2o_linklist_insert(list, &e->wait);
}

/* ---- Reading a head ------------------------------------------------------------------ */

typedef enum {
    HEAD_WAIT,      /* incomplete, within the limit */
    HEAD_WHOLE,     /* complete and unambiguous: h2o may have it */
    HEAD_NOT_HTTP1, /* h2o answers it (400) or takes it as HTTP/2's preface */
    HEAD_REFUSED,   /* the guard answers it: *status, *why */
} head_verdict_t;

/* Reads buf[0..len) as the start of a request. *parsed is how much an earlier call saw
 * of the same head (0 at first); with it an incomplete head is re-read only from where
 * it ended, so that a head sent a byte at a time costs no more than one sent whole. Sets
 * *head_len for a whole head. */
static head_verdict_t read_head(const weft_gateway_t *gw, const char *buf, size_t len,
                                size_t *parsed, size_t *head_len, unsigned *status,
                                const char **why) {
    size_t max = gw->cfg.max_header_bytes;
    size_t n = len < max ? len : max;
    const char *method, *path;
    size_t method_len, path_len, nheaders = H2O_MAX_HEADERS;
    int minor;
    struct phr_header hs[H2O_MAX_HEADERS];
    int r = phr_parse_request(buf, n, &method, &method_len, &path, &path_len, &minor, hs, &nheaders,
                              *parsed);
    if (r == -1 && *parsed) {
        /* The quick look at the new bytes alone found them wrong: read it all. */
        nheaders = H2O_MAX_HEADERS;
        r = phr_parse_request(buf, n, &method, &method_len, &path, &path_len, &minor, hs, &nheaders,
                              0);
    }
    if (r == -2) {
        if (len >= max) {
            /* A request line that does not end within the limit is a long target. */
            bool line_ends = memchr(buf, '\n', n) != NULL;
            *status = line_ends ? 431 : 414;
            *why =
                line_ends ? "the request headers are too large" : "the request target is too long";
            return HEAD_REFUSED;
        }
        *parsed = n;
        return HEAD_WAIT;
    }
    if (r == -1) {
        /* The parser stops at the header after the last that fits: h2o would say 400. */
        if (nheaders == H2O_MAX_HEADERS) {
            *status = 431;
            *why = "too many request headers";
            return HEAD_REFUSED;
        }
        return HEAD_NOT_HTTP1;
    }
    const struct phr_header *length = NULL;
    size_t encodings = 0;
    *status = 400;
    for (size_t i = 0; i < nheaders; i++) {
        const struct phr_header *h = &hs[i];
        if (!h->name) {
            /* RFC 9112 section 5.2 lets a server refuse obs-fold; h2o would take the
             * continuation for a header without a name. */
            *why = "a header line is folded (obsolete line folding)";
            return HEAD_REFUSED;
        }
        if (h->name_len == 14 && !strncasecmp(h->name, "content-length", 14)) {
            /* The same value repeated is still one length: RFC 9110 section 8.6 lets a
             * recipient take it, and h2o reads the first of them. Any other is refused
             * (RFC 9112 section 6.3). */
            if (length && (length->value_len != h->value_len ||
                           memcmp(length->value, h->value, h->value_len))) {
                *why = "conflicting Content-Length headers";
                return HEAD_REFUSED;
            }
            length = h;
        } else if (h->name_len == 17 && !strncasecmp(h->name, "transfer-encoding", 17)) {
            encodings++;
        }
    }
    /* RFC 9112 section 6.1: Transfer-Encoding overrides Content-Length, but such a request
     * "ought to be handled as an error" (a proxy in front may have read the other);
     * several Transfer-Encoding headers make a list h2o does not read (it takes the last);
     * in HTTP/1.0 Transfer-Encoding means the framing is faulty. */
    if (length && encodings) {
        *why = "Content-Length and Transfer-Encoding together";
        return HEAD_REFUSED;
    }
    if (encodings > 1) {
        *why = "more than one Transfer-Encoding header";
        return HEAD_REFUSED;
    }
    if (encodings && minor == 0) {
        *why = "Transfer-Encoding in an HTTP/1.0 request";
        return HEAD_REFUSED;
    }
    *head_len = (size_t)r;
    return HEAD_WHOLE;
}

/* ---- Standing in front, stepping aside ----------------------------------------------- */

static void on_guarded_read(h2o_socket_t *sock, const char *err);

static void stand_in_front(conn_entry_t *e, uint8_t state) {
    io_thread_t *io = e->io;
    e->h2o_read = e->sock->_cb.read;
    e->sock->_cb.read = on_guarded_read;
    e->state = state;
    e->parsed = 0;
    wait_append(e, state == GUARD_IDLE ? &io->wait_idle : &io->wait_head);
}

/* Gives the connection back to h2o and calls h2o's read callback with err (NULL: read
 * what is in the buffer; anything else: h2o closes the connection, and e may be freed
 * before this returns). */
static void hand_back(conn_entry_t *e, const char *err) {
    h2o_socket_t *sock = e->sock;
    h2o_socket_cb h2o_read = e->h2o_read;
    wait_unlink(e);
    e->state = GUARD_OFF;
    e->parsed = 0;
    sock->_cb.read = h2o_read;
    h2o_read(sock, err);
}

/* ---- Refusing ------------------------------------------------------------------------ */

static void on_refused_read(h2o_socket_t *sock, const char *err);
static void on_answer_written(h2o_socket_t *sock, const char *err);

/* The whole answer, with what h2o would add (Date, Server), in a buffer of its own. */
static char *format_answer(const weft_gateway_t *gw, unsigned status, const char *why) {
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    char *s;
    if (asprintf(&s,
                 "HTTP/1.1 %u %s\r\nDate: %s\r\nServer: %s\r\nConnection: close\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s\n",
                 status, weft_http_reason(status), date, gw->h2o.server_name.base, strlen(why) + 1,
                 why) < 0)
        return NULL;
    return s;
}

/* Answers status on a connection the guard stands in front of, h2o's connection still
 * waiting for a head behind it. */
static void refuse(conn_entry_t *e, unsigned status, const char *why) {
    h2o_socket_t *sock = e->sock;
    if (sock->input->size)
        h2o_buffer_consume(&sock->input, sock->input->size);
    sock->_cb.read = on_refused_read; /* h2o keeps the socket reading while it waits */
    e->state = GUARD_REFUSED;
    if (!e->answer && !(e->answer = format_answer(e->io->gw, status, why))) {
        hand_back(e, h2o_socket_error_out_of_memory);
        return;
    }
    wait_append(e, &e->io->wait_linger);
    h2o_iovec_t buf = h2o_iovec_init(e->answer, strlen(e->answer));
    h2o_socket_write(sock, &buf, 1, on_answer_written);
}

static void on_answer_written(h2o_socket_t *sock, const char *err) {
    conn_entry_t *e = sock->on_close.data;
    e->answer_sent = true;
    if (err || e->peer_gone) {
        hand_back(e, err ? err : guard_closed);
        return;
    }
    /* The client learns the answer is whole (a TLS client from Content-Length). */
    if (!sock->ssl)
        shutdown(e->fd, SHUT_WR);
}

/* A refused client: what it still sends is dropped; its close ends the connection. */
static void on_refused_read(h2o_socket_t *sock, const char *err) {
    conn_entry_t *e = sock->on_close.data;
    if (sock->input->size)
        h2o_buffer_consume(&sock->input, sock->input->size);
    if (!err)
        return;
    if (!e->answer_sent) { /* closing now could drop the answer: once it is out */
        e->peer_gone = true;
        h2o_socket_read_stop(sock);
        return;
    }
    hand_back(e, err);
}

/* ---- The guard's read callback ------------------------------------------------------- */

static void on_guarded_read(h2o_socket_t *sock, const char *err) {
    conn_entry_t *e = sock->on_close.data;
    if (err) {
        hand_back(e, err);
        return;
    }
    unsigned status;
    const char *why;
    switch (read_head(e->io->gw, sock->input->bytes, sock->input->size, &e->parsed, &e->head_len,
                      &status, &why)) {
    case HEAD_WAIT:
        if (e->state == GUARD_IDLE && sock->input->size) {
            e->state = GUARD_HEAD; /* the head's own clock starts with its first byte */
            wait_append(e, &e->io->wait_head);
        }
        return;
    case HEAD_WHOLE:
    case HEAD_NOT_HTTP1:
        hand_back(e, NULL);
        return;
    case HEAD_REFUSED:
        refuse(e, status, why);
        return;
    }
}

/* ---- Accepting ----------------------------------------------------------------------- */

/* h2o's HTTP/1 takes sock: the guard stands in front of its first head, and reads what
 * came along with the TLS handshake (h2o would have parsed it at once, unguarded). */
static void accept_http1(conn_entry_t *e) {
    io_thread_t *io = e->io;
    h2o_socket_t *sock = e->sock;
    h2o_buffer_t *early = sock->input;
    h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    h2o_http1_accept(&io->accept, sock, e->connected_at);
    h2o_buffer_dispose(&sock->input); /* still the empty prototype */
    sock->input = early;
    if (!io->h1_read)
        io->h1_read = sock->_cb.read;
    stand_in_front(e, GUARD_HEAD);
    if (sock->input->size)
        on_guarded_read(sock, NULL);
}

static void on_handshake(h2o_socket_t *sock, const char *err) {
    conn_entry_t *e = sock->on_close.data;
    wait_unlink(e);
    e->state = GUARD_OFF;
    if (err) {
        h2o_socket_close(sock);
        return;
    }
    h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
    for (const h2o_iovec_t *id = h2o_http2_alpn_protocols; id->len; id++)
        if (proto.len == id->len && !memcmp(proto.base, id->base, id->len)) {
            h2o_http2_accept(&e->io->accept, sock, e->connected_at);
            return;
        }
    accept_http1(e);
}

void weft_guard_accept(conn_entry_t *e) {
    io_thread_t *io = e->io;
    e->connected_at = *h2o_get_timestamp(&io->ctx, NULL, NULL);
    if (!io->accept.ssl_ctx) {
        accept_http1(e);
        return;
    }
    /* What h2o_accept does, but knowing when it is done; the header timeout covers the
     * handshake (h2o's handshake_timeout is not used). */
    e->state = GUARD_TLS;
    wait_append(e, &io->wait_head);
    h2o_socket_ssl_handshake(e->sock, io->accept.ssl_ctx, NULL, on_handshake);
}

/* ---- Between requests ---------------------------------------------------------------- */

static void pend(conn_entry_t *e, uint8_t state) {
    e->state = state;
    if (!h2o_linklist_is_linked(&e->pending))
        h2o_linklist_insert(&e->io->guard_pending, &e->pending);
}

/* h2o is freeing a request of e's: its answer is written, and h2o is about to consume
 * req_len bytes of its buffer and read the next head from what is left, at once if
 * anything is. (Or the connection is closing: then nothing here matters, and on_close
 * follows.) */
static void on_request_disposed(void *link) {
    conn_entry_t *e = *(conn_entry_t **)link;
    if (e->state != GUARD_OFF) /* a request h2o handed to on_request twice: done */
        return;
    h2o_buffer_t *in = e->sock->input;
    size_t done = e->req_len;
    e->req_len = 0;
    if (!done || done > in->size) { /* not measured: guard what comes next */
        pend(e, GUARD_PEND_IDLE);
        return;
    }
    if (done == in->size) {
        pend(e, GUARD_PEND_IDLE);
        return;
    }
    size_t parsed = 0;
    unsigned status;
    const char *why;
    switch (read_head(e->io->gw, in->bytes + done, in->size - done, &parsed, &e->head_len, &status,
                      &why)) {
    case HEAD_WAIT:
        pend(e, GUARD_PEND_HEAD);
        return;
    case HEAD_WHOLE:
    case HEAD_NOT_HTTP1:
        e->state = GUARD_OFF;
        return;
    case HEAD_REFUSED:
        in->size = done; /* h2o consumes the answered request and finds nothing after it */
        e->refuse_status = status;
        e->refuse_why = why;
        pend(e, GUARD_PEND_REFUSE);
        return;
    }
}

bool weft_guard_request(h2o_req_t *req) {
    if (req->version >= 0x200)
        return true;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    conn_entry_t *e = sock->on_close.data;
    bool seen = e->head_len != 0;
    e->req_len = seen ? e->head_len + req->entity.len : 0;
    e->head_len = 0;
    conn_entry_t **link = h2o_mem_alloc_shared(&req->pool, sizeof *link, on_request_disposed);
    *link = e;
    return seen;
}

void weft_guard_arm(io_thread_t *io) {
    while (!h2o_linklist_is_empty(&io->guard_pending)) {
        conn_entry_t *e = H2O_STRUCT_FROM_MEMBER(conn_entry_t, pending, io->guard_pending.next);
        h2o_linklist_unlink(&e->pending);
        /* Waiting for a head, h2o reads with its HTTP/1 callback; anything else (a TLS
         * close under way) is no longer the guard's business. */
        if (!io->h1_read || e->sock->_cb.read != io->h1_read) {
            e->state = GUARD_OFF;
            continue;
        }
        uint8_t pending = e->state;
        stand_in_front(e, pending == GUARD_PEND_IDLE ? GUARD_IDLE : GUARD_HEAD);
        if (pending == GUARD_PEND_REFUSE)
            refuse(e, e->refuse_status, e->refuse_why);
    }
}

/* ---- Deadlines ----------------------------------------------------------------------- */

/* The oldest entry of list if it has waited timeout_ms, else NULL. */
static conn_entry_t *expired(h2o_linklist_t *list, uint64_t now, uint64_t timeout_ms) {
    if (h2o_linklist_is_empty(list))
        return NULL;
    conn_entry_t *e = H2O_STRUCT_FROM_MEMBER(conn_entry_t, wait, list->next);
    return now - e->since_ms >= timeout_ms ? e : NULL;
}

void weft_guard_sweep(io_thread_t *io) {
    const weft_gateway_t *gw = io->gw;
    uint64_t now = now_ms();
    conn_entry_t *e;
    while ((e = expired(&io->wait_head, now, ms_of(gw->cfg.header_timeout_ns)))) {
        if (e->state == GUARD_TLS) {
            wait_unlink(e);
            e->state = GUARD_OFF;
            h2o_socket_close(e->sock);
        } else if (!e->sock->input->size) {
            hand_back(e, guard_closed); /* nothing came: nobody to answer */
        } else {
            refuse(e, 408, "the request headers did not arrive in time");
        }
    }
    while ((e = expired(&io->wait_idle, now, ms_of(gw->cfg.idle_timeout_ns))))
        hand_back(e, guard_closed);
    while ((e = expired(&io->wait_linger, now, WEFT_GUARD_LINGER_MS)))
        hand_back(e, guard_closed);
}

void weft_guard_forget(conn_entry_t *e) {
    wait_unlink(e);
    if (h2o_linklist_is_linked(&e->pending))
        h2o_linklist_unlink(&e->pending);
    free(e->answer);
    e->answer = NULL;
}
