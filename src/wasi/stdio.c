/* stdio: the stdio streams that are not host descriptors. NULL reads as empty and
 * swallows writes; INPUT reads from the embedder's bytes; OUTPUT appends to the
 * embedder's buffer up to a limit; LINES cuts writes into lines for a callback (guest
 * stderr into weft's log). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int weft_wasi_stream_init(weft_wasi_stream_t *s, const weft_stdio_t *cfg) {
    memset(s, 0, sizeof *s);
    s->kind = cfg->kind;
    switch (cfg->kind) {
    case WEFT_STDIO_NULL:
        return 0;
    case WEFT_STDIO_INPUT:
        if (!cfg->in && cfg->in_len)
            return WEFT_EINVAL;
        s->in = cfg->in;
        s->in_len = cfg->in_len;
        return 0;
    case WEFT_STDIO_OUTPUT:
        if (!cfg->out)
            return WEFT_EINVAL;
        s->out = cfg->out;
        s->out_limit = cfg->out_limit;
        return 0;
    case WEFT_STDIO_LINES:
        if (!cfg->on_line)
            return WEFT_EINVAL;
        s->on_line = cfg->on_line;
        s->arg = cfg->arg;
        s->line = malloc(WEFT_WASI_MAX_LINE_BYTES + 1);
        return s->line ? 0 : WEFT_ENOMEM;
    default:
        return WEFT_EINVAL;
    }
}

void weft_wasi_stream_free(weft_wasi_stream_t *s) {
    free(s->line);
    s->line = NULL;
}

static void emit_line(weft_wasi_stream_t *s) {
    s->line[s->line_len] = '\0';
    s->on_line(s->arg, s->line, s->line_len);
    s->line_len = 0;
}

void weft_wasi_stream_flush(weft_wasi_stream_t *s) {
    if (s->kind == WEFT_STDIO_LINES && s->line && s->line_len)
        emit_line(s);
}

uint64_t weft_wasi_stream_available(const weft_wasi_stream_t *s) {
    return s->kind == WEFT_STDIO_INPUT ? s->in_len - s->in_pos : 0;
}

uint32_t weft_wasi_stream_read(weft_wasi_stream_t *s, const struct iovec *iov, int n,
                               uint32_t *nread) {
    *nread = 0;
    if (s->kind == WEFT_STDIO_OUTPUT || s->kind == WEFT_STDIO_LINES)
        return WEFT_WASI_EBADF;
    if (s->kind == WEFT_STDIO_NULL)
        return WEFT_WASI_ESUCCESS;
    size_t total = 0;
    for (int i = 0; i < n && s->in_pos < s->in_len; i++) {
        size_t k = s->in_len - s->in_pos;
        if (k > iov[i].iov_len)
            k = iov[i].iov_len;
        memcpy(iov[i].iov_base, s->in + s->in_pos, k);
        s->in_pos += k;
        total += k;
    }
    *nread = (uint32_t)total; /* iovecs are capped at WEFT_WASI_MAX_IO_BYTES */
    return WEFT_WASI_ESUCCESS;
}

/* Appends to the line buffer, passing on each complete line (and each
 * WEFT_WASI_MAX_LINE_BYTES piece of an overlong one). */
static void lines_write(weft_wasi_stream_t *s, const uint8_t *p, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            emit_line(s);
            continue;
        }
        s->line[s->line_len++] = (char)p[i];
        if (s->line_len == WEFT_WASI_MAX_LINE_BYTES)
            emit_line(s);
    }
}

uint32_t weft_wasi_stream_write(weft_wasi_stream_t *s, const struct iovec *iov, int n,
                                uint32_t *nwritten) {
    *nwritten = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    switch (s->kind) {
    case WEFT_STDIO_INPUT:
        return WEFT_WASI_EBADF;
    case WEFT_STDIO_NULL:
        break;
    case WEFT_STDIO_LINES:
        for (int i = 0; i < n; i++)
            lines_write(s, iov[i].iov_base, iov[i].iov_len);
        break;
    case WEFT_STDIO_OUTPUT: {
        /* Up to the limit a write succeeds (in part if need be, as a pipe would); a
         * write that finds no room at all fails, so the guest learns why. */
        if (s->out_limit) {
            size_t room = s->out_limit - s->out_written;
            if (room == 0 && total)
                return WEFT_WASI_EFBIG;
            if (total > room)
                total = room;
        }
        if (weft_buf_reserve(s->out, total))
            return WEFT_WASI_ENOMEM;
        size_t left = total;
        for (int i = 0; i < n && left; i++) {
            size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
            weft_buf_append(s->out, iov[i].iov_base, k); /* reserved above: cannot fail */
            left -= k;
        }
        s->out_written += total;
        break;
    }
    default:
        return WEFT_WASI_EBADF;
    }
    *nwritten = (uint32_t)total;
    return WEFT_WASI_ESUCCESS;
}
