/* A driver for the tests of the distributed backends (redis.sh, postgres.sh): opens the
 * stores at the locations given and runs the commands it reads on stdin, one a line,
 * answering each with one line ("ok ..." or "error ENAME: message"), flushed, so that a
 * script can stop a server between two commands.
 *
 *   driver_store_dist KV_LOCATION BLOB_LOCATION     ("-": none)
 *   kv-set KEY VALUE | kv-get KEY                   (store "default")
 *   blob-open CONTAINER NAME | blob-write BYTES | blob-commit | blob-abort
 *   blob-stat CONTAINER NAME | blob-list CONTAINER
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static void answer_err(int rc, const weft_error_t *err) {
    printf("error %s: %s\n", weft_err_name(rc), err->msg);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: driver_store_dist KV_LOCATION BLOB_LOCATION\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    weft_error_t err = {0};
    weft_kv_t *kv = NULL;
    weft_kv_store_t *st = NULL;
    weft_blob_t *b = NULL;
    weft_blob_writer_t *w = NULL;
    int rc;
    if (strcmp(argv[1], "-") != 0 && ((rc = weft_kv_open(argv[1], NULL, &kv, &err)) ||
                                      (rc = weft_kv_store(kv, "default", &st, &err)))) {
        answer_err(rc, &err);
        return 1;
    }
    if (strcmp(argv[2], "-") != 0 && (rc = weft_blob_open(argv[2], NULL, &b, &err))) {
        answer_err(rc, &err);
        return 1;
    }
    printf("ready\n");
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *cmd = strtok(line, " "), *a = strtok(NULL, " "), *c = strtok(NULL, "");
        if (!cmd)
            continue;
        memset(&err, 0, sizeof err);
        if (!strcmp(cmd, "kv-set") && st && a && c) {
            uint64_t v = 0;
            rc = weft_kv_set(st, a, c, strlen(c), NULL, &v, &err);
            if (rc)
                answer_err(rc, &err);
            else
                printf("ok %llu\n", (unsigned long long)v);
        } else if (!strcmp(cmd, "kv-get") && st && a) {
            uint8_t *v = NULL;
            size_t n = 0;
            if ((rc = weft_kv_get(st, a, &v, &n, NULL, &err)))
                answer_err(rc, &err);
            else
                printf("ok %.*s\n", (int)n, (const char *)v);
            free(v);
        } else if (!strcmp(cmd, "blob-open") && b && a && c && !w) {
            if ((rc = weft_blob_writer_open(b, a, c, NULL, NULL, &w, &err)))
                answer_err(rc, &err);
            else
                printf("ok\n");
        } else if (!strcmp(cmd, "blob-write") && w && a) {
            size_t n = strtoul(a, NULL, 10);
            char *buf = malloc(n ? n : 1);
            memset(buf, 'x', n);
            if ((rc = weft_blob_write(w, buf, n, &err)))
                answer_err(rc, &err);
            else
                printf("ok\n");
            free(buf);
        } else if (!strcmp(cmd, "blob-commit") && w) {
            weft_blob_meta_t m;
            rc = weft_blob_writer_commit(w, &m, &err);
            w = NULL;
            if (rc)
                answer_err(rc, &err);
            else
                printf("ok %llu\n", (unsigned long long)m.size);
        } else if (!strcmp(cmd, "blob-abort") && w) {
            weft_blob_writer_abort(w);
            w = NULL;
            printf("ok\n");
        } else if (!strcmp(cmd, "blob-stat") && b && a && c) {
            weft_blob_meta_t m;
            if ((rc = weft_blob_stat(b, a, c, &m, &err)))
                answer_err(rc, &err);
            else
                printf("ok %llu\n", (unsigned long long)m.size);
        } else if (!strcmp(cmd, "blob-list") && b && a) {
            weft_store_names_t page;
            if ((rc = weft_blob_list(b, a, NULL, NULL, 0, &page, &err))) {
                answer_err(rc, &err);
            } else {
                printf("ok");
                for (size_t i = 0; i < page.n; i++)
                    printf(" %s", page.names[i]);
                printf("\n");
                weft_store_names_free(&page);
            }
        } else {
            printf("error EINVAL: a command this driver does not know: %s\n", cmd);
        }
    }
    weft_blob_writer_abort(w);
    weft_blob_close(b);
    weft_kv_close(kv);
    return 0;
}
