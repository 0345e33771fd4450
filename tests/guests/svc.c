/* A guest of weft's services (sdk/weft.h), for tests/host/services_test.c: the last
 * segment of the request path picks what it does, and it prints one line per call,
 * "what=code" (and what the call gave back), so that the test compares the lines.
 * The raw imports are called with pointers outside memory on purpose: they are calls
 * of imported functions, which the compiler cannot fold away. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft.h"

#define R(what, call) printf("%s=%u\n", what, (unsigned)(call))

/* An address past the end of any memory this guest will have. */
#define FAR ((void *)(uintptr_t)0xFFFFFF00u)

static char errbuf[512];

static void kv(void) {
    weft_kv_t s = 0, s2 = 0;
    R("open", weft_kv_open("default", &s));
    R("open.again", weft_kv_open("default", &s2));
    printf("same=%d\n", s == s2);
    R("set", weft_kv_set(s, "k", "value one", 9, 0));
    char *v = NULL;
    size_t n = 0;
    R("get", weft_kv_get(s, "k", &v, &n));
    printf("value=%s len=%zu\n", v ? v : "", n);
    free(v);
    uint32_t ex = 9;
    R("exists", weft_kv_exists(s, "k", &ex));
    printf("exists=%u\n", ex);
    char small[4];
    size_t need = 0;
    R("get.small", weft_kv_get_raw(s, "k", 1, small, sizeof small, &need));
    printf("need=%zu\n", need);
    R("delete", weft_kv_delete(s, "k"));
    R("exists.after", weft_kv_exists(s, "k", &ex));
    printf("exists=%u\n", ex);
    R("get.after", weft_kv_get(s, "k", &v, &n));
    R("delete.again", weft_kv_delete(s, "k"));
    R("set.empty", weft_kv_set(s, "empty", "", 0, 0));
    R("get.empty", weft_kv_get(s, "empty", &v, &n));
    printf("len=%zu\n", n);
    free(v);
    /* A time to live: gone once it has passed. */
    R("set.ttl", weft_kv_set(s, "short", "x", 1, 30));
    R("exists.ttl", weft_kv_exists(s, "short", &ex));
    printf("exists=%u\n", ex);
    struct timespec ts = {0, 80 * 1000000};
    nanosleep(&ts, NULL);
    R("get.expired", weft_kv_get(s, "short", &v, &n));
    /* Listing by prefix, paged through a buffer that holds two keys at most. */
    for (int i = 1; i <= 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "p/%d", i);
        weft_kv_set(s, key, "v", 1, 0);
    }
    weft_kv_set(s, "q/1", "v", 1, 0);
    char buf[9], after[64] = "";
    uint32_t more = 1;
    int pages = 0;
    printf("keys=");
    while (more && pages < 10) {
        size_t written = 0;
        uint32_t e =
            weft_kv_list_raw(s, "p/", 2, after, strlen(after), buf, sizeof buf, &written, &more);
        if (e) {
            printf("(list failed %u)", e);
            break;
        }
        pages++;
        for (size_t off = 0; off < written; off += strlen(buf + off) + 1) {
            printf("%s ", buf + off);
            snprintf(after, sizeof after, "%s", buf + off);
        }
    }
    printf("pages=%d\n", pages);
    R("list.tiny", weft_kv_list_raw(s, "", 0, "", 0, buf, 2, &need, &more));
    printf("need=%zu\n", need);
    R("handle.bad", weft_kv_set(999, "k", "v", 1, 0));
}

static void denied(void) {
    weft_kv_t s;
    R("kv", weft_kv_open("secret", &s));
    printf("error=%s\n", weft_last_error(errbuf, sizeof errbuf));
    R("blob", weft_blob_put("other", "b", NULL, "x", 1));
    R("doc", weft_doc_put("other", "d", "{}"));
    R("publish", weft_publish("other", "type:t\n", "", 0));
}

static void badptr(void) {
    weft_kv_t s;
    R("open.name", weft_kv_open_raw(FAR, 10, &s));
    R("open.out", weft_kv_open_raw("default", 7, FAR));
    R("open.len", weft_kv_open_raw("default", 0xFFFFFFF0u, &s));
    weft_kv_open("default", &s);
    size_t n;
    char buf[16];
    R("get.key", weft_kv_get_raw(s, FAR, 4, buf, sizeof buf, &n));
    R("get.buf", weft_kv_get_raw(s, "k", 1, FAR, 4096, &n));
    R("get.len", weft_kv_get_raw(s, "k", 1, buf, sizeof buf, FAR));
    R("set.value", weft_kv_set_raw(s, "k", 1, FAR, 1 << 20, 0));
    R("key.nul", weft_kv_set_raw(s, "a\0b", 3, "v", 1, 0));
    printf("error=%s\n", weft_last_error(errbuf, sizeof errbuf));
    weft_blob_writer_t w;
    R("blob.name", weft_blob_write_open_raw("c", 1, FAR, 8, "", 0, &w));
    R("blob.open", weft_blob_write_open("c", "b", "text/plain", &w));
    R("blob.data", weft_blob_write(w, FAR, 512));
    R("blob.gone", weft_blob_write(w, "x", 1));
    R("blob.stat", weft_blob_stat_raw("c", 1, "b", 1, FAR));
    R("doc.json", weft_doc_put_raw("d", 1, "i", 1, FAR, 2));
    R("doc.query", weft_doc_query_raw("d", 1, "{}", 2, "", 0, FAR, 64, &n, (uint32_t *)buf));
    R("publish.data", weft_publish_raw("b", 1, "type:t\n", 7, FAR, 64));
    R("last_error", weft_last_error_raw(FAR, 64, &n));
}

static void blob(void) {
    const char *text = "hello, blob";
    R("put", weft_blob_put("c", "dir/b.txt", "text/plain", text, strlen(text)));
    weft_blob_stat_t st;
    memset(&st, 0, sizeof st);
    R("stat", weft_blob_stat("c", "dir/b.txt", &st));
    printf("size=%llu type=%s sha256=%s version>0=%d mtime>0=%d\n", (unsigned long long)st.size,
           st.content_type, st.sha256, st.version > 0, st.mtime_ms > 0);
    char *data = NULL;
    size_t n = 0;
    R("get", weft_blob_get("c", "dir/b.txt", &data, &n));
    printf("data=%s\n", data ? data : "");
    free(data);
    /* Reading at an offset, and past the end. */
    weft_blob_reader_t r;
    uint64_t size = 0;
    R("read.open", weft_blob_read_open("c", "dir/b.txt", &r, &size));
    char buf[8] = {0};
    size_t got = 0;
    R("read.at7", weft_blob_read(r, 7, buf, sizeof buf - 1, &got));
    printf("got=%zu %s\n", got, buf);
    R("read.end", weft_blob_read(r, size, buf, 4, &got));
    printf("got=%zu\n", got);
    R("read.close", weft_blob_read_close(r));
    R("read.closed", weft_blob_read(r, 0, buf, 4, &got));
    /* A writer aborted leaves nothing; one not closed is dropped at the end. */
    weft_blob_writer_t w;
    R("abort.open", weft_blob_write_open("c", "aborted", NULL, &w));
    weft_blob_write(w, "zz", 2);
    R("abort", weft_blob_write_abort(w));
    R("stat.aborted", weft_blob_stat("c", "aborted", &st));
    R("left.open", weft_blob_write_open("c", "left-open", NULL, &w));
    weft_blob_write(w, "zz", 2);
    char names[64];
    size_t written = 0;
    uint32_t more = 0;
    R("list", weft_blob_list_raw("c", 1, "dir/", 4, "", 0, names, sizeof names, &written, &more));
    printf("names=%s more=%u\n", names, more);
    R("delete", weft_blob_delete("c", "dir/b.txt"));
    R("delete.again", weft_blob_delete("c", "dir/b.txt"));
    R("stat.deleted", weft_blob_stat("c", "dir/b.txt", &st));
}

/* Writes a blob of MiB mebibytes, far more than this guest's memory, in 64 KiB chunks of
 * a pattern, then reads it back and sums it. */
static void blob_big(const char *q) {
    unsigned mib = (unsigned)atoi(q ? q : "0");
    static unsigned char chunk[65536];
    weft_blob_writer_t w;
    R("open", weft_blob_write_open("c", "big", "application/octet-stream", &w));
    uint64_t sum_in = 0, sum_out = 0, total = (uint64_t)mib << 20;
    for (uint64_t off = 0; off < total; off += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (unsigned char)((off + i) * 2654435761u >> 13);
        for (size_t i = 0; i < sizeof chunk; i++)
            sum_in = sum_in * 31 + chunk[i];
        uint32_t e = weft_blob_write(w, chunk, sizeof chunk);
        if (e) {
            R("write", e);
            return;
        }
    }
    R("commit", weft_blob_write_commit(w));
    weft_blob_reader_t r;
    uint64_t size = 0;
    R("read.open", weft_blob_read_open("c", "big", &r, &size));
    for (uint64_t off = 0; off < size;) {
        size_t got = 0;
        if (weft_blob_read(r, off, chunk, sizeof chunk, &got) || !got)
            break;
        for (size_t i = 0; i < got; i++)
            sum_out = sum_out * 31 + chunk[i];
        off += got;
    }
    weft_blob_read_close(r);
    printf("size=%llu same=%d\n", (unsigned long long)size, sum_in == sum_out);
}

static void doc(void) {
    R("put.a", weft_doc_put("d", "a", "{\"kind\":\"x\",\"n\":1}"));
    R("put.b", weft_doc_put("d", "b", "{\"kind\":\"y\",\"n\":2}"));
    R("put.c", weft_doc_put("d", "c", "{\"kind\":\"x\",\"n\":3.0}"));
    char *j = NULL;
    R("get", weft_doc_get("d", "b", &j));
    printf("doc=%s\n", j ? j : "");
    free(j);
    char buf[256];
    size_t written = 0;
    uint32_t more = 0;
    const char *m = "{\"kind\":\"x\"}";
    R("query", weft_doc_query_raw("d", 1, m, strlen(m), "", 0, buf, sizeof buf, &written, &more));
    printf("found=");
    for (size_t off = 0; off < written;) {
        printf("%s:", buf + off);
        off += strlen(buf + off) + 1;
        printf("%s ", buf + off);
        off += strlen(buf + off) + 1;
    }
    printf("more=%u\n", more);
    m = "{\"n\":3}";
    R("query.num",
      weft_doc_query_raw("d", 1, m, strlen(m), "", 0, buf, sizeof buf, &written, &more));
    printf("first=%s\n", written ? buf : "");
    m = "{\"n\":[1]}";
    R("query.bad",
      weft_doc_query_raw("d", 1, m, strlen(m), "", 0, buf, sizeof buf, &written, &more));
    R("query.small", weft_doc_query_raw("d", 1, "{}", 2, "", 0, buf, 4, &written, &more));
    printf("need=%zu\n", written);
    R("put.notjson", weft_doc_put("d", "x", "{\"unterminated\""));
    R("put.array", weft_doc_put("d", "x", "[1,2]"));
    R("delete", weft_doc_delete("d", "b"));
    R("get.deleted", weft_doc_get("d", "b", &j));
    R("delete.again", weft_doc_delete("d", "b"));
}

static void publish(void) {
    const char *data = "{\"blob\":\"c/b\"}";
    R("plain", weft_publish("b",
                            "type:com.example.created\ndatacontenttype:application/json\n"
                            "subject:c/b \"x\" 100%\n",
                            data, strlen(data)));
    R("own_id", weft_publish("b", "type:t\nid:my-id\nsource:/mine\nextattr:1\n", "", 0));
    R("no_type", weft_publish("b", "subject:x\n", "", 0));
    printf("error=%s\n", weft_last_error(errbuf, sizeof errbuf));
    R("bad_name", weft_publish("b", "type:t\nBad-Name:x\n", "", 0));
    R("refused", weft_publish("b", "type:refuse\n", "", 0));
    printf("error=%s\n", weft_last_error(errbuf, sizeof errbuf));
}

/* Reads only: a key and a document. */
static void read_only(void) {
    weft_kv_t s;
    char *v = NULL, *j = NULL;
    size_t n = 0;
    R("open", weft_kv_open("default", &s));
    R("get", weft_kv_get(s, "seen", &v, &n));
    printf("value=%s\n", v ? v : "");
    R("doc", weft_doc_get("d", "a", &j));
    printf("doc=%s\n", j ? j : "");
    free(v);
    free(j);
}

/* Reads, then writes: the write is what a trial must not do. */
static void read_then_write(void) {
    weft_kv_t s;
    char *v = NULL;
    size_t n = 0;
    R("open", weft_kv_open("default", &s));
    R("get", weft_kv_get(s, "seen", &v, &n));
    free(v);
    R("set", weft_kv_set(s, "written", "yes", 3, 0));
}

/* Whatever the store does, once: for stores that are full or cannot be opened. */
static void write_one(const char *q) {
    size_t n = (size_t)atoi(q ? q : "1");
    char *big = malloc(n);
    if (!big)
        return;
    memset(big, 'v', n);
    weft_kv_t s;
    uint32_t e = weft_kv_open("default", &s);
    R("open", e);
    if (!e)
        R("set", weft_kv_set(s, "big", big, n, 0));
    printf("error=%s\n", weft_last_error(errbuf, sizeof errbuf));
    R("doc", weft_doc_put("d", "x", "{}"));
    R("blob", weft_blob_put("c", "x", NULL, big, n));
    free(big);
}

int main(void) {
    const char *path = getenv("PATH_INFO");
    const char *q = getenv("QUERY_STRING");
    const char *what = path ? strrchr(path, '/') : NULL;
    what = what ? what + 1 : "";
    printf("Content-Type: text/plain\n\n");
    if (!strcmp(what, "kv"))
        kv();
    else if (!strcmp(what, "denied"))
        denied();
    else if (!strcmp(what, "badptr"))
        badptr();
    else if (!strcmp(what, "blob"))
        blob();
    else if (!strcmp(what, "blob_big"))
        blob_big(q);
    else if (!strcmp(what, "doc"))
        doc();
    else if (!strcmp(what, "publish"))
        publish();
    else if (!strcmp(what, "read"))
        read_only();
    else if (!strcmp(what, "read_write"))
        read_then_write();
    else if (!strcmp(what, "write_one"))
        write_one(q);
    else
        printf("unknown %s\n", what);
    return 0;
}
