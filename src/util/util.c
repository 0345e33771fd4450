/* util: errors, buffers, files, hashing, parsing of sizes and durations. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *weft_err_name(int code) {
    switch (code) {
    case WEFT_OK:
        return "OK";
#define WEFT_ERR_NAME_(name, text)                                                                 \
    case WEFT_##name:                                                                              \
        return #name;
        WEFT_ERRORS(WEFT_ERR_NAME_)
#undef WEFT_ERR_NAME_
    default:
        return "EUNKNOWN";
    }
}

const char *weft_err_text(int code) {
    switch (code) {
    case WEFT_OK:
        return "success";
#define WEFT_ERR_TEXT_(name, text)                                                                 \
    case WEFT_##name:                                                                              \
        return text;
        WEFT_ERRORS(WEFT_ERR_TEXT_)
#undef WEFT_ERR_TEXT_
    default:
        return "unknown error";
    }
}

int weft_error_set(weft_error_t *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void weft_error_prefix(weft_error_t *err, const char *fmt, ...) {
    if (!err)
        return;
    char prefix[WEFT_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Room for both; the result is cut to the message size. */
    char joined[2 * WEFT_ERROR_MAX + 2];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, joined);
}

int weft_buf_reserve(weft_buf_t *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1)
        return WEFT_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return WEFT_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int weft_buf_append(weft_buf_t *b, const void *data, size_t len) {
    int rc = weft_buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

int weft_buf_puts(weft_buf_t *b, const char *s) {
    return weft_buf_append(b, s, strlen(s));
}

int weft_buf_printf(weft_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WEFT_EINVAL;
    int rc = weft_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void weft_buf_free(weft_buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int weft_file_read(const char *path, uint8_t **out, size_t *len, weft_error_t *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return weft_error_set(err, errno == ENOENT ? WEFT_ENOTFOUND : WEFT_EIO, "%s: %s", path,
                              strerror(errno));
    weft_buf_t b = {0};
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = weft_error_set(err, WEFT_EIO, "%s: is a directory", path);
        goto out;
    }
    if (fstat(fd, &st) == 0 && st.st_size > 0 && weft_buf_reserve(&b, (size_t)st.st_size)) {
        rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (weft_buf_reserve(&b, 65536)) {
            rc = weft_error_set(err, WEFT_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = weft_error_set(err, WEFT_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
    }
    b.data[b.len] = 0;
    *out = b.data;
    *len = b.len;
    b.data = NULL;
out:
    weft_buf_free(&b);
    close(fd);
    return rc;
}

int weft_file_write_atomic(const char *path, const void *data, size_t len, weft_error_t *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return weft_error_set(err, WEFT_EINVAL, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return weft_error_set(err, WEFT_EIO, "%s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return weft_error_set(err, WEFT_EIO, "%s: %s", tmp, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return weft_error_set(err, WEFT_EIO, "%s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return weft_error_set(err, WEFT_EIO, "%s: %s", path, strerror(e));
    }
    return 0;
}

int weft_mkdirs(const char *path, int mode) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return WEFT_EINVAL;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
                return WEFT_EIO;
            buf[i] = c;
        }
    }
    return 0;
}

void weft_sha256(const void *data, size_t len, uint8_t out[32]) {
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

int weft_hex_digit(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void weft_hex(const uint8_t *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

/* Splits "12.5ms" into a number and a unit; the number may have a fraction. */
static int parse_number_unit(const char *s, double *num, const char **unit) {
    if (!s || !*s)
        return WEFT_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || v != v)
        return WEFT_EINVAL;
    *num = v;
    *unit = end;
    return 0;
}

/* A decimal fraction is seldom a double: "1.001s" is 1000999999.99... ns, which a cast
 * would cut to 1000999999: rounding to the nearest nanosecond or byte gives the value
 * the user wrote. r is in [0, 1.8e19]. */
static uint64_t round_to_u64(double r) {
    return (uint64_t)(r + 0.5);
}

int weft_parse_duration(const char *s, uint64_t *ns) {
    double v;
    const char *u;
    if (parse_number_unit(s, &v, &u))
        return WEFT_EINVAL;
    double mult;
    if (!*u || !strcmp(u, "s"))
        mult = 1e9;
    else if (!strcmp(u, "ms"))
        mult = 1e6;
    else if (!strcmp(u, "us"))
        mult = 1e3;
    else if (!strcmp(u, "ns"))
        mult = 1;
    else if (!strcmp(u, "m"))
        mult = 60e9;
    else if (!strcmp(u, "h"))
        mult = 3600e9;
    else
        return WEFT_EINVAL;
    double r = v * mult;
    if (r > 1.8e19)
        return WEFT_EINVAL;
    *ns = round_to_u64(r);
    return 0;
}

int weft_parse_size(const char *s, uint64_t *bytes) {
    double v;
    const char *u;
    if (parse_number_unit(s, &v, &u))
        return WEFT_EINVAL;
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},        {"B", 1},         {"K", 1024}, {"KiB", 1024},     {"KB", 1000},
        {"M", 1048576}, {"MiB", 1048576}, {"MB", 1e6}, {"G", 1073741824}, {"GiB", 1073741824},
        {"GB", 1e9}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcmp(u, units[i].unit)) {
            double r = v * units[i].mult;
            if (r > 1.8e19)
                return WEFT_EINVAL;
            *bytes = round_to_u64(r);
            return 0;
        }
    }
    return WEFT_EINVAL;
}

bool weft_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        /* Overlong forms, surrogates and values past Unicode are not UTF-8. */
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

uint64_t weft_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static weft_log_sink_fn log_sink;
static _Thread_local const weft_log_ctx_t *log_ctx;

void weft_log_set_sink(weft_log_sink_fn sink) {
    log_sink = sink;
}

const weft_log_ctx_t *weft_log_ctx_set(const weft_log_ctx_t *ctx) {
    const weft_log_ctx_t *was = log_ctx;
    log_ctx = ctx;
    return was;
}

const char *weft_log_level_name(weft_log_level_t level) {
    return level == WEFT_LOG_ERROR ? "error" : level == WEFT_LOG_WARN ? "warn" : "info";
}

static void log_v(weft_log_level_t level, const char *fmt, va_list ap) {
    char line[4096];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    if (log_sink) {
        log_sink(level, line, (size_t)n, log_ctx);
        return;
    }
    /* One write per line so that lines from several threads do not interleave. */
    char out[4200];
    int m = snprintf(out, sizeof out, "weft: %.*s\n", n, line);
    if (m > 0) {
        ssize_t w = write(2, out, (size_t)(m < (int)sizeof out ? m : (int)sizeof out - 1));
        (void)w;
    }
}

void weft_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_v(WEFT_LOG_INFO, fmt, ap);
    va_end(ap);
}

void weft_log_at(weft_log_level_t level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fmt, ap);
    va_end(ap);
}

/* ---- HTTP ---------------------------------------------------------------------------- */

const char *weft_http_reason(unsigned status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 200   ? "Informational"
               : status < 300 ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

void weft_uuid4(char out[37]) {
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* No entropy to be had: the clock and a counter still make ids unique here. */
        static _Atomic uint64_t counter;
        uint64_t n = atomic_fetch_add(&counter, 1), t = weft_now_ns();
        memcpy(b, &t, 8);
        memcpy(b + 8, &n, 8);
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
