/* Helpers for the events layer's C tests (included, not a test itself): an app made
 * from a weft.toml written in a temporary folder, events ingested and waited for, and
 * a small threaded HTTP sink that records the events delivered to it. */
#ifndef WEFT_TEST_EVTEST_H
#define WEFT_TEST_EVTEST_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "events/events.h"
#include "test.h"

static inline void ev_sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* A temporary folder holding weft.toml with text (printf-style), loaded. */
static inline weft_app_t *ev_app(char dir[64], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline weft_app_t *ev_app(char dir[64], const char *fmt, ...) {
    if (!dir[0]) {
        snprintf(dir, 64, "/tmp/weft-evtest-XXXXXX");
        if (!mkdtemp(dir))
            return NULL;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/weft.toml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    weft_app_t *app = NULL;
    weft_error_t err = {0};
    if (weft_app_load(path, NULL, &app, &err))
        fprintf(stderr, "weft_app_load: %s\n", err.msg);
    return app;
}

static inline void ev_rmdir(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- Ingest, waited for ---------------------------------------------------------------- */

typedef struct ev_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    unsigned status;
    char body[256];
} ev_wait_t;

static inline void ev_done(void *arg, unsigned status, const char *body) {
    ev_wait_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    snprintf(w->body, sizeof w->body, "%s", body);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

/* POSTs body (structured or batched JSON, by content_type) to broker; the status. */
static inline unsigned ev_post(weft_events_t *ev, const char *broker, const char *content_type,
                               const char *body) {
    ev_wait_t w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    weft_header_t h[1] = {{.name = "content-type", .value = content_type}};
    weft_events_ingest(ev, broker, h, 1, (const uint8_t *)body, strlen(body), ev_done, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return w.status;
}

/* One structured event with this id and type, data {"n": id}. */
static inline unsigned ev_send(weft_events_t *ev, const char *broker, const char *id,
                               const char *type) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"test\",\"type\":\"%s\","
             "\"data\":{\"n\":\"%s\"}}",
             id, type, id);
    return ev_post(ev, broker, "application/cloudevents+json", body);
}

/* ---- A sink -------------------------------------------------------------------------- */

#define EV_SINK_MAX 65536

typedef struct ev_sink {
    int lfd, port;
    pthread_t acceptor;
    pthread_mutex_t mu;
    char (*ids)[48]; /* ce-id of each request, in order of arrival */
    char (*types)[48];
    size_t n;
    atomic_int stop;
    atomic_uint status; /* answered; 200 unless set */
    atomic_uint delay_ms;
    int fds[256];
    pthread_t threads[256];
    int nconn;
} ev_sink_t;

typedef struct ev_conn {
    ev_sink_t *s;
    int fd;
} ev_conn_t;

static inline const char *ev_header(char *head, const char *name, char *out, size_t outsz) {
    size_t nl = strlen(name);
    for (char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        char *line = p + 2;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t k = strcspn(v, "\r");
            if (k >= outsz)
                k = outsz - 1;
            memcpy(out, v, k);
            out[k] = 0;
            return out;
        }
    }
    return NULL;
}

static inline void *ev_sink_conn(void *arg) {
    ev_conn_t c = *(ev_conn_t *)arg;
    free(arg);
    ev_sink_t *s = c.s;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        char *end;
        buf[len] = 0;
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            if (len == cap)
                goto out;
            ssize_t r = recv(c.fd, buf + len, cap - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
            buf[len] = 0;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        end[2] = 0;
        char cl[32] = "0", id[48] = "", type[48] = "";
        ev_header(buf, "content-length", cl, sizeof cl);
        ev_header(buf, "ce-id", id, sizeof id);
        ev_header(buf, "ce-type", type, sizeof type);
        size_t body_len = strtoul(cl, NULL, 10);
        if (head_len + body_len > cap)
            goto out;
        while (len < head_len + body_len) {
            ssize_t r = recv(c.fd, buf + len, cap - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        unsigned delay = s->delay_ms;
        for (unsigned t = 0; t < delay && !s->stop; t += 10)
            ev_sleep_ms(10);
        unsigned status = s->status;
        pthread_mutex_lock(&s->mu);
        if (s->n < EV_SINK_MAX && status / 100 == 2) {
            snprintf(s->ids[s->n], sizeof s->ids[0], "%s", id);
            snprintf(s->types[s->n], sizeof s->types[0], "%s", type);
            s->n++;
        }
        pthread_mutex_unlock(&s->mu);
        char resp[128];
        int k = snprintf(resp, sizeof resp, "HTTP/1.1 %u X\r\nContent-Length: 0\r\n\r\n", status);
        if (send(c.fd, resp, (size_t)k, MSG_NOSIGNAL) != k)
            goto out;
        memmove(buf, buf + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
    }
out:
    free(buf);
    return NULL;
}

static inline void *ev_sink_accept(void *arg) {
    ev_sink_t *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0 || s->stop) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        ev_conn_t *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        if (s->nconn == 256 || pthread_create(&s->threads[s->nconn], NULL, ev_sink_conn, c)) {
            close(fd);
            free(c);
        } else {
            s->fds[s->nconn++] = fd;
        }
        pthread_mutex_unlock(&s->mu);
    }
}

static inline ev_sink_t *ev_sink_start(void) {
    ev_sink_t *s = calloc(1, sizeof *s);
    s->ids = calloc(EV_SINK_MAX, sizeof *s->ids);
    s->types = calloc(EV_SINK_MAX, sizeof *s->types);
    pthread_mutex_init(&s->mu, NULL);
    s->status = 200;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) || listen(s->lfd, 128) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al))
        return NULL;
    s->port = ntohs(a.sin_port);
    pthread_create(&s->acceptor, NULL, ev_sink_accept, s);
    return s;
}

/* How many requests the sink took (2xx) with this id. */
static inline size_t ev_sink_count(ev_sink_t *s, const char *id) {
    size_t k = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        k += !strcmp(s->ids[i], id);
    pthread_mutex_unlock(&s->mu);
    return k;
}

static inline size_t ev_sink_total(ev_sink_t *s) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Waits up to ms for the sink to hold at least n requests. */
static inline bool ev_sink_wait(ev_sink_t *s, size_t n, unsigned ms) {
    for (unsigned t = 0; t < ms; t += 10) {
        if (ev_sink_total(s) >= n)
            return true;
        ev_sleep_ms(10);
    }
    return ev_sink_total(s) >= n;
}

static inline void ev_sink_stop(ev_sink_t *s) {
    s->stop = 1;
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    for (int i = 0; i < s->nconn; i++)
        shutdown(s->fds[i], SHUT_RDWR);
    for (int i = 0; i < s->nconn; i++) {
        pthread_join(s->threads[i], NULL);
        close(s->fds[i]);
    }
    free(s->ids);
    free(s->types);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

#endif
