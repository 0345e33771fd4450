/* sse: a broker's events as Server-Sent Events (GET /brokers/NAME/events, gateway.h).
 *
 * A stream is a tail of the broker's log (events.h) written to the client with an h2o
 * generator, all on the I/O thread of its connection. The tail's notify comes from the
 * log's writer thread: it posts the stream's one message to that I/O thread (at most one
 * is queued at a time), which reads what the tail has, a bounded batch per turn, and
 * sends it, one send at a time: the next waits for h2o's proceed (the client took the
 * last), so a slow reader holds one batch in memory and the rest stays in the log. When
 * the client went quiet for WEFT_GATEWAY_SSE_KEEPALIVE_S, a comment line is sent, which
 * keeps proxies from closing the connection and shows a client that left.
 *
 * Streams are not requests in flight: a graceful stop does not wait for them. They end
 *   - when the client goes: h2o stops the generator (HTTP/2, or a write that failed);
 *     on HTTP/1, whose connection h2o does not read while it answers, the stream reads
 *     the socket itself and ends at the client's end of stream;
 *   - when the server stops, or a swap brings a site without the broker (the response
 *     is finished and the connection closed: an EventSource then reconnects, with
 *     Last-Event-ID, and gets 404 or the next server's stream).
 * The tail is closed as soon as a stream ends; the stream is freed once h2o is done
 * with it and no message of its tail is queued.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Events read from the tail per send, and tail reads per turn of the loop when the
 * filter keeps none of them (then the stream waits for its next turn). */
#define WEFT_SSE_BATCH 32
#define WEFT_SSE_ROUNDS 4
/* A send buffer grown past this is given back once sent. */
#define WEFT_SSE_KEEP_BYTES (256u << 10)

static const char keepalive_line[] = ": keep-alive\n\n";

typedef struct sse {
    h2o_generator_t gen;           /* h2o's handle on the response */
    h2o_multithread_message_t msg; /* "the tail has more", to the I/O thread */
    atomic_bool queued;            /* msg is in the I/O thread's queue */
    io_thread_t *io;
    h2o_req_t *req;           /* NULL once h2o is done with the response */
    conn_entry_t *conn;       /* HTTP/1: the connection read for the client's end */
    weft_events_t *ev;        /* the tail's */
    char *broker;             /* its name */
    weft_events_tail_t *tail; /* NULL once the stream ended */
    h2o_linklist_t link;      /* in io->streams while the response runs */
    h2o_timeout_entry_t keepalive;
    weft_buf_t out; /* what the send under way sends */
    bool sending;   /* h2o has not called proceed for the last send */
    bool more;      /* the tail may have more than was read */
    bool opened;    /* something was sent (and with it the head) */
    bool ending;    /* the response is to be finished */
    int busy;       /* in a call of this file that h2o may re-enter */
} sse_t;

static void pump(sse_t *s);

/* Frees s once nothing refers to it any more: h2o (req), the I/O thread's queue
 * (queued), a call under way (busy). */
static void maybe_free(sse_t *s) {
    if (s->req || s->busy || atomic_load(&s->queued))
        return;
    free(s->broker);
    weft_buf_free(&s->out);
    free(s);
}

/* Ends reading: closes the tail (no notify after that) and leaves the thread's lists. */
static void detach(sse_t *s) {
    if (s->tail) {
        weft_events_tail_close(s->tail);
        s->tail = NULL;
    }
    if (h2o_linklist_is_linked(&s->link))
        h2o_linklist_unlink(&s->link);
    if (h2o_timeout_is_linked(&s->keepalive))
        h2o_timeout_unlink(&s->keepalive);
    if (s->conn) {
        s->conn->sse = NULL;
        s->conn = NULL;
    }
}

/* From the log's writer thread (the tail's notify), or from the I/O thread itself. */
static void notify(void *arg) {
    sse_t *s = arg;
    if (!atomic_exchange(&s->queued, true))
        h2o_multithread_send_message(&s->io->sse_rcv, &s->msg);
}

static void on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, msg, m);
        atomic_store(&s->queued, false);
        if (!s->req) {
            maybe_free(s);
            continue;
        }
        s->more = true;
        pump(s);
    }
}

/* Appends one event: its seq as the id, the JSON as data (on one line as the events
 * layer writes it; should a line break ever be in it, each line is a data line, which
 * a client joins back with line breaks). */
static void on_event(void *arg, uint64_t seq, const char *json, size_t len) {
    sse_t *s = arg;
    weft_buf_printf(&s->out, "id: %" PRIu64 "\n", seq);
    for (;;) {
        size_t line = strcspn(json, "\r\n");
        if (line > len)
            line = len;
        weft_buf_append(&s->out, "data: ", 6);
        weft_buf_append(&s->out, json, line);
        weft_buf_append(&s->out, "\n", 1);
        if (line >= len)
            break;
        size_t skip = json[line] == '\r' && line + 1 < len && json[line + 1] == '\n' ? 2 : 1;
        json += line + skip;
        len -= line + skip;
    }
    weft_buf_append(&s->out, "\n", 1);
}

static void send_out(sse_t *s) {
    s->sending = true;
    s->opened = true;
    if (h2o_timeout_is_linked(&s->keepalive))
        h2o_timeout_unlink(&s->keepalive);
    h2o_timeout_link(s->io->ctx.loop, &s->io->keepalive, &s->keepalive);
    h2o_iovec_t buf = h2o_iovec_init(s->out.data, s->out.len);
    s->busy++;
    h2o_send(s->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
    s->busy--;
    maybe_free(s); /* should h2o have stopped it meanwhile */
}

/* Finishes the response: the stream has ended. */
static void finish(sse_t *s) {
    h2o_req_t *req = s->req;
    detach(s);
    s->req = NULL;
    req->http1_is_persistent = 0;
    s->busy++;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    s->busy--;
    maybe_free(s);
}

/* Reads what the tail has and sends it, unless a send is under way (then proceed comes
 * back here). */
static void pump(sse_t *s) {
    if (!s->req || s->sending)
        return;
    if (s->ending) {
        finish(s);
        return;
    }
    s->out.len = 0;
    for (int round = 0; round < WEFT_SSE_ROUNDS && s->more && !s->out.len; round++) {
        weft_error_t err = {0};
        long n = weft_events_tail_read(s->tail, WEFT_SSE_BATCH, on_event, s, &err);
        if (n < 0) {
            weft_log("broker %s: events stream: %s", s->broker, err.msg);
            s->out.len = 0;
            finish(s);
            return;
        }
        s->more = n == WEFT_SSE_BATCH;
    }
    if (!s->out.len && s->more) { /* all filtered out so far: go on at the next turn */
        notify(s);
        return;
    }
    if (!s->out.len && !s->opened) /* the head goes out with something */
        weft_buf_append(&s->out, keepalive_line, sizeof keepalive_line - 1);
    if (s->out.len)
        send_out(s);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req) {
    sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, gen, gen);
    s->sending = false;
    s->out.len = 0;
    if (s->out.cap > WEFT_SSE_KEEP_BYTES)
        weft_buf_free(&s->out);
    if (s->ending || s->more)
        pump(s);
}

/* h2o ends the response: the client left, or the connection is being closed. */
static void on_stop(h2o_generator_t *gen, h2o_req_t *req) {
    sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, gen, gen);
    detach(s);
    s->req = NULL;
    maybe_free(s);
}

static void on_keepalive(h2o_timeout_entry_t *entry) {
    sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, keepalive, entry);
    if (s->sending || s->ending || !s->req) {
        h2o_timeout_link(s->io->ctx.loop, &s->io->keepalive, &s->keepalive);
        return;
    }
    s->out.len = 0;
    weft_buf_append(&s->out, keepalive_line, sizeof keepalive_line - 1);
    send_out(s);
}

/* Ends the stream: its tail at once, its response now or once the send under way is
 * out. */
static void end_stream(sse_t *s) {
    if (!s->req || s->ending)
        return;
    s->ending = true;
    detach(s);
    pump(s);
}

/* HTTP/1: the client's socket, read while the stream runs (h2o does not read it while it
 * answers). Its end of stream ends the stream; anything else it sends is not for this
 * connection, which then closes once the stream ends. */
static void on_client_read(h2o_socket_t *sock, const char *err) {
    conn_entry_t *e = sock->on_close.data;
    sse_t *s = e->sse;
    h2o_socket_read_stop(sock);
    if (!s)
        return;
    if (err)
        end_stream(s);
    else if (s->req)
        s->req->http1_is_persistent = 0;
}

/* ---- Opening a stream ---------------------------------------------------------------- */

/* Decodes a query value (application/x-www-form-urlencoded: %XX, '+' a space) into the
 * request's pool; NULL when a '%' is not followed by two hex digits. */
static char *query_decode(h2o_mem_pool_t *pool, const char *v, size_t len) {
    char *out = h2o_mem_alloc_pool(pool, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '+') {
            *o++ = ' ';
        } else if (v[i] == '%') {
            int hi = i + 2 < len ? weft_hex_digit((unsigned char)v[i + 1]) : -1;
            int lo = hi >= 0 ? weft_hex_digit((unsigned char)v[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return NULL;
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = v[i];
        }
    }
    *o = 0;
    return out;
}

/* The query's since and filter: 0, or 400 with *why. */
static unsigned read_query(h2o_req_t *req, bool *earliest, char **filter, const char **why) {
    const char *q = memchr(req->input.path.base, '?', req->input.path.len);
    if (!q)
        return 0;
    const char *end = req->input.path.base + req->input.path.len;
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *name_end = eq ? eq : stop;
        const char *value = eq ? eq + 1 : stop;
        char *v = query_decode(&req->pool, value, (size_t)(stop - value));
        if (!v) {
            *why = "the query has a '%' that is not followed by two hexadecimal digits";
            return 400;
        }
        if (h2o_memis(p, (size_t)(name_end - p), H2O_STRLIT("since"))) {
            if (strcmp(v, "earliest")) {
                *why = "since: expected 'earliest' (the oldest event retained); without it "
                       "the stream starts at the next event";
                return 400;
            }
            *earliest = true;
        } else if (h2o_memis(p, (size_t)(name_end - p), H2O_STRLIT("filter"))) {
            *filter = v;
        }
        p = stop + 1;
    }
    return 0;
}

/* Last-Event-ID: 0 without one; 400 when it is no seq this server sent. */
static unsigned read_last_id(h2o_req_t *req, uint64_t *after, const char **why) {
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), -1);
    if (i < 0)
        return 0;
    const h2o_iovec_t *v = &req->headers.entries[i].value;
    uint64_t n = 0;
    bool ok = v->len > 0 && v->len <= 19;
    for (size_t k = 0; ok && k < v->len; k++) {
        ok = v->base[k] >= '0' && v->base[k] <= '9';
        n = n * 10 + (uint64_t)(v->base[k] - '0');
    }
    if (!ok) {
        *why = "Last-Event-ID: expected the id of an event of this stream (a number)";
        return 400;
    }
    *after = n;
    return 0;
}

unsigned weft_sse_open(io_thread_t *io, h2o_req_t *req, weft_gateway_site_t *site,
                       const char *broker, char *why, size_t why_cap) {
    weft_gateway_t *gw = io->gw;
    const char *bad = NULL;
    bool earliest = false;
    char *filter = NULL;
    uint64_t after = 0;
    unsigned status = read_query(req, &earliest, &filter, &bad);
    if (!status)
        status = read_last_id(req, &after, &bad);
    if (status) {
        snprintf(why, why_cap, "%s", bad);
        return status;
    }
    if (atomic_load(&gw->stopping)) {
        snprintf(why, why_cap, "the server is stopping");
        return 503;
    }
    if (!site->events) {
        snprintf(why, why_cap, "not found");
        return 404;
    }
    sse_t *s = calloc(1, sizeof *s);
    if (!s || !(s->broker = strdup(broker))) {
        free(s);
        snprintf(why, why_cap, "out of memory");
        return 503;
    }
    s->io = io;
    s->ev = site->events;
    atomic_init(&s->queued, false);
    s->keepalive.cb = on_keepalive;
    weft_events_tail_opts_t opts = {.broker = broker,
                                    .after = after,
                                    .earliest = earliest,
                                    .filter = filter,
                                    .notify = notify,
                                    .arg = s};
    weft_error_t err = {0};
    int rc = weft_events_tail_open(site->events, &opts, &s->tail, &err);
    if (rc) {
        snprintf(why, why_cap, "%s", rc == WEFT_ENOMEM ? "out of memory" : err.msg);
        maybe_free(s); /* or, should a notify have come meanwhile, its message frees it */
        return rc == WEFT_EINVAL ? 400 : rc == WEFT_ENOTFOUND ? 404 : 503;
    }
    /* A notify may already be queued: it finds the stream set up, on this thread. */
    s->req = req;
    s->more = true;
    h2o_linklist_insert(&io->streams, &s->link);
    req->res.status = 200;
    req->res.reason = weft_http_reason(200);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    h2o_start_response(req, &s->gen);
    if (req->version < 0x200) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        s->conn = sock->on_close.data;
        s->conn->sse = s;
        h2o_socket_read_start(sock, on_client_read);
    }
    pump(s);
    return 0;
}

/* ---- The I/O thread's streams --------------------------------------------------------- */

/* The keep-alive period: WEFT_SSE_KEEPALIVE_MS in the environment (100 to 3600000), for
 * a proxy that closes quiet connections sooner, else WEFT_GATEWAY_SSE_KEEPALIVE_S. */
static uint64_t keepalive_ms(void) {
    const char *env = getenv("WEFT_SSE_KEEPALIVE_MS");
    char *end = NULL;
    unsigned long long ms = env ? strtoull(env, &end, 10) : 0;
    if (env && *env && !*end && ms >= 100 && ms <= 3600000)
        return ms;
    return WEFT_GATEWAY_SSE_KEEPALIVE_S * 1000u;
}

void weft_sse_init(io_thread_t *io) {
    h2o_linklist_init_anchor(&io->streams);
    h2o_multithread_register_receiver(io->queue, &io->sse_rcv, on_messages);
    h2o_timeout_init(io->ctx.loop, &io->keepalive, keepalive_ms());
}

/* Ends every stream, or those whose broker site no longer serves (with these events);
 * true when it ended one. */
static bool end_streams(io_thread_t *io, const weft_gateway_site_t *site) {
    bool ended = false;
    h2o_linklist_t *next;
    for (h2o_linklist_t *l = io->streams.next; l != &io->streams; l = next) {
        next = l->next;
        sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, link, l);
        if (site && site->events == s->ev) {
            char path[600];
            int n = snprintf(path, sizeof path, "/brokers/%s/events", s->broker);
            const weft_route_t *r = n > 0 && (size_t)n < sizeof path
                                        ? weft_router_match(site->router, path, (size_t)n, NULL)
                                        : NULL;
            const handler_t *h = r ? r->target : NULL;
            if (h && h->kind == HANDLER_EVENTS && !strcmp(h->broker, s->broker))
                continue;
        }
        end_stream(s); /* may unlink s (next was taken before) */
        ended = true;
    }
    return ended;
}

void weft_sse_site_changed(io_thread_t *io) {
    end_streams(io, io->site);
}

bool weft_sse_stop(io_thread_t *io) {
    return end_streams(io, NULL);
}

void weft_sse_dispose(io_thread_t *io) {
    /* Streams already ended may still wait for a message of their tail in the queue,
     * which dispatches them only when the loop runs: let it. */
    for (int i = 0; i < 100 && !h2o_linklist_is_empty(&io->sse_rcv._messages); i++)
        h2o_evloop_run(io->ctx.loop, 1);
    h2o_multithread_unregister_receiver(io->queue, &io->sse_rcv);
    h2o_timeout_dispose(io->ctx.loop, &io->keepalive);
}
