/* store: the program tests/store/crash.sh kills. Two modes:
 *
 *   driver_store_crash write DIR ROUND   sets keys and commits blobs in DIR from two
 *       threads until killed, printing a line for each write once it is acknowledged:
 *       "kv ROUND/N" (its value is derived from the key) and "blob ROUND/N SIZE SHA256".
 *   driver_store_crash check DIR < ACKS  checks that every acknowledged write is there,
 *       whole, and that every blob listed reads whole (its bytes hash to its SHA-256):
 *       no half blob is visible, and no file beside the committed ones is left after
 *       open. Prints "ok: K keys, B blobs" and exits 0, or says what is wrong and
 *       exits 1. */
#include <dirent.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static const char *dir;
static int round_no;

/* One line to stdout in one write, so that a kill never leaves half a line. */
static void ack(const char *line) {
    size_t n = strlen(line);
    if (write(1, line, n) != (ssize_t)n)
        _exit(3);
}

static void value_of(const char *key, char *out, size_t size) {
    snprintf(out, size, "value of %s: %0*d", key, (int)(strlen(key) * 7 % 200), 0);
}

static void *kv_writer(void *arg) {
    weft_kv_store_t *st = arg;
    for (int i = 0;; i++) {
        char key[64], value[512], line[128];
        weft_error_t err = {0};
        snprintf(key, sizeof key, "%d/%d", round_no, i);
        value_of(key, value, sizeof value);
        if (weft_kv_set(st, key, value, strlen(value), NULL, NULL, &err)) {
            fprintf(stderr, "set %s: %s\n", key, err.msg);
            _exit(2);
        }
        snprintf(line, sizeof line, "kv %s\n", key);
        ack(line);
    }
    return NULL;
}

static uint8_t byte_of(uint64_t seed, uint64_t i) {
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
    return (uint8_t)(x >> 53);
}

static void *blob_writer(void *arg) {
    weft_blob_t *b = arg;
    uint8_t buf[64 << 10];
    for (int i = 0;; i++) {
        char name[64], line[200];
        weft_error_t err = {0};
        snprintf(name, sizeof name, "%d/%d", round_no, i);
        uint64_t seed = (uint64_t)round_no * 100000 + (uint64_t)i;
        uint64_t size = (uint64_t)(i % 7) * 300000 + 1;
        weft_blob_writer_t *w = NULL;
        weft_blob_meta_t m;
        int rc = weft_blob_writer_open(b, "crash", name, "application/x-test", NULL, &w, &err);
        for (uint64_t off = 0; !rc && off < size; off += sizeof buf) {
            size_t n = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
            for (size_t k = 0; k < n; k++)
                buf[k] = byte_of(seed, off + k);
            rc = weft_blob_write(w, buf, n, &err);
        }
        if (!rc)
            rc = weft_blob_writer_commit(w, &m, &err);
        if (rc) {
            fprintf(stderr, "blob %s: %s\n", name, err.msg);
            _exit(2);
        }
        snprintf(line, sizeof line, "blob %s %llu %s\n", name, (unsigned long long)m.size,
                 m.sha256);
        ack(line);
        /* And one blob replaced again and again. */
        rc = weft_blob_writer_open(b, "crash", "replaced", NULL, NULL, &w, &err);
        for (int k = 0; !rc && k < 8; k++) {
            memset(buf, 'a' + i % 26, sizeof buf);
            rc = weft_blob_write(w, buf, sizeof buf, &err);
        }
        if (!rc)
            rc = weft_blob_writer_commit(w, NULL, &err);
        if (rc) {
            fprintf(stderr, "blob replaced: %s\n", err.msg);
            _exit(2);
        }
    }
    return NULL;
}

/* Reads the whole blob: its size and SHA-256 (hex). */
static int read_whole(weft_blob_t *b, const char *name, weft_blob_meta_t *m, uint64_t *size,
                      char *hex) {
    weft_blob_reader_t *r = NULL;
    weft_error_t err = {0};
    if (weft_blob_reader_open(b, "crash", name, &r, m, &err)) {
        printf("blob %s: %s\n", name, err.msg);
        return 1;
    }
    static uint8_t buf[1 << 20];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    *size = 0;
    size_t got;
    while (weft_blob_read(r, *size, buf, sizeof buf, &got, &err) == 0 && got) {
        sha256_update(&ctx, got, buf);
        *size += got;
    }
    uint8_t d[32];
    sha256_digest(&ctx, 32, d);
    weft_hex(d, 32, hex);
    weft_blob_reader_close(r);
    return 0;
}

static int check(void) {
    weft_error_t err = {0};
    weft_kv_t *kv = NULL;
    weft_blob_t *b = NULL;
    weft_kv_store_t *st = NULL;
    if (weft_kv_open(dir, NULL, &kv, &err) || weft_kv_store(kv, "crash", &st, &err) ||
        weft_blob_open(dir, NULL, &b, &err)) {
        printf("open: %s\n", err.msg);
        return 1;
    }
    int bad = 0, keys = 0, blobs = 0;
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char name[128], sha[80];
        unsigned long long size;
        if (sscanf(line, "kv %127s", name) == 1) {
            keys++;
            char want[512];
            value_of(name, want, sizeof want);
            uint8_t *v = NULL;
            size_t n = 0;
            if (weft_kv_get(st, name, &v, &n, NULL, &err) || n != strlen(want) ||
                memcmp(v, want, n) != 0) {
                printf("acknowledged key %s: %s\n", name, v ? "wrong value" : err.msg);
                bad++;
            }
            free(v);
        } else if (sscanf(line, "blob %127s %llu %79s", name, &size, sha) == 3) {
            blobs++;
            weft_blob_meta_t m;
            uint64_t got = 0;
            char hex[65];
            if (read_whole(b, name, &m, &got, hex) || got != size || strcmp(hex, sha) != 0 ||
                strcmp(m.sha256, sha) != 0) {
                printf("acknowledged blob %s: not whole (%llu of %llu bytes)\n", name,
                       (unsigned long long)got, size);
                bad++;
            }
        } else if (line[0] != '\n') {
            printf("a line of the acknowledgements that is not one: %s", line);
            bad++;
        }
    }
    /* Every blob listed reads whole: its bytes match its SHA-256 and size. */
    char after[WEFT_BLOB_MAX_NAME + 1] = "";
    size_t listed = 0;
    for (;;) {
        weft_store_names_t page;
        if (weft_blob_list(b, "crash", NULL, after, 1000, &page, &err)) {
            printf("list: %s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < page.n; i++) {
            weft_blob_meta_t m;
            uint64_t got = 0;
            char hex[65];
            listed++;
            if (read_whole(b, page.names[i], &m, &got, hex) || got != m.size ||
                strcmp(hex, m.sha256) != 0) {
                printf("listed blob %s: not whole\n", page.names[i]);
                bad++;
            }
        }
        bool more = page.more;
        if (page.n)
            snprintf(after, sizeof after, "%s", page.names[page.n - 1]);
        weft_store_names_free(&page);
        if (!more)
            break;
    }
    /* After open, the folder holds one file per blob: no tmp- file, no orphan. */
    char path[600];
    const char *d = strncmp(dir, "sqlite:", 7) == 0 ? dir + 7 : dir;
    snprintf(path, sizeof path, "%s/blobs", d);
    DIR *dh = opendir(path);
    size_t files = 0;
    for (struct dirent *e; dh && (e = readdir(dh));)
        if (e->d_name[0] != '.')
            files++;
    if (dh)
        closedir(dh);
    if (files != listed) {
        printf("%s holds %zu files for %zu blobs\n", path, files, listed);
        bad++;
    }
    weft_kv_close(kv);
    weft_blob_close(b);
    if (bad)
        return 1;
    printf("ok: %d keys, %d blobs acknowledged, %zu blobs listed\n", keys, blobs, listed);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "write") == 0) {
        dir = argv[2];
        round_no = atoi(argv[3]);
        weft_error_t err = {0};
        weft_kv_t *kv = NULL;
        weft_kv_store_t *st = NULL;
        weft_blob_t *b = NULL;
        if (weft_kv_open(dir, NULL, &kv, &err) || weft_kv_store(kv, "crash", &st, &err) ||
            weft_blob_open(dir, NULL, &b, &err)) {
            fprintf(stderr, "open: %s\n", err.msg);
            return 1;
        }
        pthread_t t1, t2;
        pthread_create(&t1, NULL, kv_writer, st);
        pthread_create(&t2, NULL, blob_writer, b);
        pthread_join(t1, NULL); /* never: killed */
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        dir = argv[2];
        return check();
    }
    fprintf(stderr, "usage: driver_store_crash write DIR ROUND | check DIR < ACKS\n");
    return 2;
}
