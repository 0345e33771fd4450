/* A guest without a module, for calling the WASI host functions directly: a linear
 * memory made of a calloc'd buffer, a weft_guest_t over it, and a scratch tree on the
 * host
 *
 *     TMP/sandbox   preopened as fd 3 ("/sandbox")
 *     TMP/outside   next to it, never preopened: what escape tests must not reach
 *     TMP/ro        preopened read-only as fd 4 ("/ro") when asked for
 *
 * Guest memory is used at fixed offsets: G_PATH/G_PATH2 for paths, G_RES for results,
 * G_IOV for iovec arrays, G_BUF for data (see below). */
#ifndef WEFT_TESTS_WASI_HARNESS_H
#define WEFT_TESTS_WASI_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "wasi/internal.h"
#include "wasi/wasi.h"

#define H_PAGES 4u /* 256 KiB of guest memory */
#define H_MEM_BYTES (H_PAGES * 65536u)
#define G_PATH 0x100u
#define G_PATH2 0x1200u
#define G_RES 0x2400u /* 64 bytes of results */
#define G_RES2 0x2480u
#define G_IOV 0x2800u /* iovec arrays */
#define G_BUF 0x4000u /* data, up to H_BUF_BYTES */
#define H_BUF_BYTES 0x20000u
#define G_BIG 0x24000u /* a second large area, up to the end of memory */

#define W(name) Z_wasi_snapshot_preview1Z_##name

/* Shortened WASI names for reading tests. */
#define OK WEFT_WASI_ESUCCESS
#define R_ALL WEFT_WASI_RIGHTS_ALL
#define FD_PREOPEN 3u
#define FD_RO 4u

typedef struct fixture {
    wasm_rt_memory_t mem;
    weft_guest_t g;
    weft_wasi_t *w;
    char tmp[PATH_MAX];
    char sandbox[PATH_MAX];
    char outside[PATH_MAX];
    char ro[PATH_MAX];
    int host_fds; /* open in the process before setup: teardown checks none is left */
} fixture_t;

static inline uint8_t *h_mem(fixture_t *f, uint32_t off) {
    return f->mem.data + off;
}

static inline void h_path(char *out, const char *dir, const char *name) {
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX)
        abort();
}

/* Writes a host file (creating it) with content. */
static inline void h_write_file(const char *dir, const char *name, const char *content) {
    char p[PATH_MAX];
    h_path(p, dir, name);
    FILE *fp = fopen(p, "w");
    if (!fp) {
        perror(p);
        abort();
    }
    fputs(content, fp);
    fclose(fp);
}

/* Reads a host file into buf ("" if missing); returns whether it exists. */
static inline bool h_read_file(const char *dir, const char *name, char *buf, size_t size) {
    char p[PATH_MAX];
    h_path(p, dir, name);
    buf[0] = '\0';
    FILE *fp = fopen(p, "r");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return true;
}

static inline bool h_exists(const char *dir, const char *name) {
    char p[PATH_MAX];
    struct stat st;
    h_path(p, dir, name);
    return lstat(p, &st) == 0;
}

static inline int h_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static inline void h_rm_rf(const char *p) {
    nftw(p, h_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fingerprint of the outside tree: every name, type, size and content hash, so a
 * test can say "nothing outside changed". */
static inline unsigned long h_tree_hash(const char *dir) {
    unsigned long h = 5381;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    char names[256][256];
    int n = 0;
    while ((de = readdir(d)) && n < 256)
        snprintf(names[n++], 256, "%s", de->d_name);
    closedir(d);
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        char p[PATH_MAX];
        struct stat st;
        h_path(p, dir, names[i]);
        if (lstat(p, &st) != 0)
            continue;
        for (const char *c = names[i]; *c; c++)
            h = h * 33 + (unsigned char)*c;
        h = h * 33 + (unsigned long)(st.st_mode & S_IFMT) + (unsigned long)st.st_size;
        if (S_ISREG(st.st_mode)) {
            FILE *fp = fopen(p, "r");
            int c;
            while (fp && (c = fgetc(fp)) != EOF)
                h = h * 33 + (unsigned long)c;
            if (fp)
                fclose(fp);
        } else if (S_ISDIR(st.st_mode) && strcmp(names[i], ".") && strcmp(names[i], "..")) {
            h = h * 33 + h_tree_hash(p);
        }
    }
    return h;
}

/* Descriptors open in this process. */
static inline int h_count_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Sets up memory, the scratch tree and a WASI state with cfg's stdio (others from the
 * fixture: preopens "/sandbox" and, when ro, "/ro"). cfg may be NULL. */
static inline void h_setup_with(fixture_t *f, weft_wasi_config_t *cfg, bool ro) {
    memset(f, 0, sizeof *f);
    f->host_fds = h_count_fds();
    f->mem.data = calloc(1, H_MEM_BYTES);
    f->mem.pages = f->mem.max_pages = H_PAGES;
    f->mem.size = H_MEM_BYTES;
    f->g.memory = &f->mem;
    snprintf(f->tmp, sizeof f->tmp, "%s/weft-wasi-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(f->tmp)) {
        perror("mkdtemp");
        abort();
    }
    h_path(f->sandbox, f->tmp, "sandbox");
    h_path(f->outside, f->tmp, "outside");
    h_path(f->ro, f->tmp, "ro");
    mkdir(f->sandbox, 0755);
    mkdir(f->outside, 0755);
    mkdir(f->ro, 0755);
    h_write_file(f->outside, "secret", "outside secret");
    h_write_file(f->ro, "data", "read-only data");

    weft_preopen_t pre[2] = {{f->sandbox, "/sandbox", false}, {f->ro, "/ro", true}};
    weft_wasi_config_t local = {0};
    if (!cfg)
        cfg = &local;
    cfg->preopens = pre;
    cfg->npreopens = ro ? 2 : 1;
    weft_error_t err = {0};
    int rc = weft_wasi_create(cfg, &f->w, &err);
    if (rc) {
        fprintf(stderr, "weft_wasi_create: %s\n", err.msg);
        abort();
    }
    f->g.wasi = f->w;
}

static inline void h_setup(fixture_t *f) {
    h_setup_with(f, NULL, false);
}

static inline void h_teardown(fixture_t *f) {
    weft_wasi_destroy(f->w);
    f->w = NULL;
    CHECK_EQ_INT(h_count_fds(), f->host_fds);
    free(f->mem.data);
    h_rm_rf(f->tmp);
}

/* Puts s at guest offset off; returns its length. */
static inline uint32_t h_str(fixture_t *f, uint32_t off, const char *s) {
    size_t n = strlen(s);
    memcpy(h_mem(f, off), s, n);
    return (uint32_t)n;
}

static inline uint32_t h_u32(fixture_t *f, uint32_t off) {
    return weft_wasi_get_u32(h_mem(f, off));
}
static inline uint64_t h_u64(fixture_t *f, uint32_t off) {
    return weft_wasi_get_u64(h_mem(f, off));
}

/* path_open relative to dir; the new fd in *fd. */
static inline uint32_t h_open(fixture_t *f, uint32_t dir, const char *path, uint32_t lookup,
                              uint32_t oflags, uint64_t rights, uint32_t fdflags, uint32_t *fd) {
    uint32_t n = h_str(f, G_PATH, path);
    uint32_t rc =
        W(path_open)(&f->g, dir, lookup, G_PATH, n, oflags, rights, R_ALL, fdflags, G_RES);
    *fd = rc == OK ? h_u32(f, G_RES) : UINT32_MAX;
    return rc;
}

/* The usual opens: read, write (create/truncate), append. */
#define H_READ (WEFT_WASI_RIGHTS_FILE & ~WEFT_WASI_RIGHTS_NEED_WRITE)
#define H_RW WEFT_WASI_RIGHTS_FILE

/* fd_write of one buffer s; returns the errno, bytes in *n. */
static inline uint32_t h_write(fixture_t *f, uint32_t fd, const char *s, uint32_t *n) {
    uint32_t len = (uint32_t)strlen(s);
    memcpy(h_mem(f, G_BUF), s, len);
    weft_wasi_put_u32(h_mem(f, G_IOV), G_BUF);
    weft_wasi_put_u32(h_mem(f, G_IOV + 4), len);
    uint32_t rc = W(fd_write)(&f->g, fd, G_IOV, 1, G_RES);
    *n = rc == OK ? h_u32(f, G_RES) : 0;
    return rc;
}

/* fd_read into out (size bytes at most, NUL-terminated); bytes in *n. */
static inline uint32_t h_read(fixture_t *f, uint32_t fd, char *out, uint32_t size, uint32_t *n) {
    weft_wasi_put_u32(h_mem(f, G_IOV), G_BUF);
    weft_wasi_put_u32(h_mem(f, G_IOV + 4), size - 1);
    uint32_t rc = W(fd_read)(&f->g, fd, G_IOV, 1, G_RES);
    *n = rc == OK ? h_u32(f, G_RES) : 0;
    memcpy(out, h_mem(f, G_BUF), *n);
    out[*n] = '\0';
    return rc;
}

/* One-argument path calls. */
static inline uint32_t h_mkdir(fixture_t *f, uint32_t dir, const char *p) {
    return W(path_create_directory)(&f->g, dir, G_PATH, h_str(f, G_PATH, p));
}
static inline uint32_t h_rmdir(fixture_t *f, uint32_t dir, const char *p) {
    return W(path_remove_directory)(&f->g, dir, G_PATH, h_str(f, G_PATH, p));
}
static inline uint32_t h_unlink(fixture_t *f, uint32_t dir, const char *p) {
    return W(path_unlink_file)(&f->g, dir, G_PATH, h_str(f, G_PATH, p));
}
static inline uint32_t h_rename(fixture_t *f, uint32_t d1, const char *a, uint32_t d2,
                                const char *b) {
    uint32_t na = h_str(f, G_PATH, a), nb = h_str(f, G_PATH2, b);
    return W(path_rename)(&f->g, d1, G_PATH, na, d2, G_PATH2, nb);
}
static inline uint32_t h_link(fixture_t *f, uint32_t d1, uint32_t flags, const char *a, uint32_t d2,
                              const char *b) {
    uint32_t na = h_str(f, G_PATH, a), nb = h_str(f, G_PATH2, b);
    return W(path_link)(&f->g, d1, flags, G_PATH, na, d2, G_PATH2, nb);
}
static inline uint32_t h_symlink(fixture_t *f, const char *target, uint32_t dir, const char *p) {
    uint32_t nt = h_str(f, G_PATH, target), np = h_str(f, G_PATH2, p);
    return W(path_symlink)(&f->g, G_PATH, nt, dir, G_PATH2, np);
}
/* path_filestat_get: filetype in *type, size in *size. */
static inline uint32_t h_stat(fixture_t *f, uint32_t dir, uint32_t flags, const char *p,
                              uint8_t *type, uint64_t *size) {
    uint32_t rc = W(path_filestat_get)(&f->g, dir, flags, G_PATH, h_str(f, G_PATH, p), G_RES);
    if (rc == OK) {
        *type = h_mem(f, G_RES)[16];
        *size = h_u64(f, G_RES + 32);
    }
    return rc;
}

#endif
