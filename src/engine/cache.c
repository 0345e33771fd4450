/* cache: where compiled artifacts live, what they are named by, and how a reader knows
 * one is whole.
 *
 * The folder is opts->cache_dir, else $XDG_CACHE_HOME/weft, else ~/.cache/weft. In it,
 * for a module whose key is K:
 *   K.so              the artifact: a shared object, then a trailer
 *   K.lock            held (flock) by the one process compiling K
 *   tmp-K-<pid>-XXXX  that process's build folder (kept with WEFT_KEEP_BUILD=1)
 *   wat/              .wat sources converted by the app layer (app.c)
 *
 * The key covers the module bytes, weft's version and glue ABI, the C compiler and
 * wasm2c (resolved path, size, mtime), the compiler flags and the embedded runtime
 * header, so a change to any of them compiles anew; so does a change to the text that
 * weft_cache_key hashes, which is why it only changes with a reason.
 *
 * The trailer is the SHA-256 of everything before it, that length (8 bytes, host order)
 * and WEFT_ARTIFACT_MAGIC. Artifacts are written under a temporary name and renamed,
 * so a reader sees either none or a whole one; the trailer catches what a rename
 * cannot (a disk that lost blocks, a copy cut short).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded_headers.h"
#include "engine_internal.h"
#include "glue.h"

#define WEFT_ARTIFACT_MAGIC "WEFTART1"
#define WEFT_TRAILER_BYTES (32 + 8 + 8)

/* ---- Location ------------------------------------------------------------------------ */

int weft_cache_dir(const weft_compile_opts_t *opts, char *out, size_t size, weft_error_t *err) {
    int n;
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (opts && opts->cache_dir)
        n = snprintf(out, size, "%s", opts->cache_dir);
    else if (xdg && *xdg)
        n = snprintf(out, size, "%s/weft", xdg);
    else if (home && *home)
        n = snprintf(out, size, "%s/.cache/weft", home);
    else
        return weft_error_set(err, WEFT_ECONFIG, "no cache directory: set XDG_CACHE_HOME or HOME");
    if (n < 0 || (size_t)n >= size)
        return weft_error_set(err, WEFT_EINVAL, "cache directory path too long");
    if (weft_mkdirs(out, 0755))
        return weft_error_set(err, WEFT_EIO, "%s: cannot create cache directory: %s", out,
                              strerror(errno));
    return 0;
}

int weft_cache_artifact_path(const char *dir, const char *key, char *out, size_t size,
                             weft_error_t *err) {
    if (snprintf(out, size, "%s/%s.so", dir, key) >= (int)size)
        return weft_error_set(err, WEFT_EINVAL, "artifact path too long");
    return 0;
}

int weft_cache_build_dir(const char *dir, const char *key, char *out, size_t size,
                         weft_error_t *err) {
    snprintf(out, size, "%s/tmp-%s-%d-XXXXXX", dir, key, (int)getpid());
    if (!mkdtemp(out)) {
        int rc = weft_error_set(err, WEFT_EIO, "%s: %s", out, strerror(errno));
        out[0] = 0;
        return rc;
    }
    return 0;
}

void weft_cache_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

void weft_cache_sweep(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* "tmp-<64 hex>-<pid>-XXXXXX" (weft_cache_build_dir) */
        const char *n = e->d_name;
        if (strncmp(n, "tmp-", 4) || strlen(n) < 4 + 64 + 2 || n[4 + 64] != '-')
            continue;
        char *end;
        long pid = strtol(n + 4 + 64 + 1, &end, 10);
        if (pid <= 0 || *end != '-' || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its compile may still be running */
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, n) < sizeof p)
            weft_cache_remove_tree(p);
    }
    closedir(d);
}

/* ---- Key ----------------------------------------------------------------------------- */

/* Finds cmd in PATH (or takes it as a path), resolved through symlinks. */
static int resolve_program(const char *cmd, char *out, size_t size) {
    if (strchr(cmd, '/'))
        return realpath(cmd, out) ? 0 : -1;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof cand, "%.*s/%s", (int)n, path, cmd) < (int)sizeof cand &&
            access(cand, X_OK) == 0 && realpath(cand, out))
            return 0;
        path += n;
        if (*path == ':')
            path++;
    }
    (void)size;
    return -1;
}

int weft_cache_key(const uint8_t *bytes, size_t len, const char *cc_cmd, const char *flags,
                   char key[65], weft_error_t *err) {
    char cc[PATH_MAX], w2c[PATH_MAX];
    if (resolve_program(cc_cmd, cc, sizeof cc))
        return weft_error_set(
            err, WEFT_ECOMPILE,
            "no C compiler '%s' found: install gcc (apt-get install gcc) or set CC", cc_cmd);
    if (resolve_program("wasm2c", w2c, sizeof w2c))
        return weft_error_set(err, WEFT_ECOMPILE,
                              "wasm2c not found: install it with apt-get install wabt");
    struct stat sc, sw;
    stat(cc, &sc);
    stat(w2c, &sw);
    uint8_t mod[32];
    weft_sha256(bytes, len, mod);
    char modhex[65];
    weft_hex(mod, 32, modhex);
    weft_buf_t b = {0};
    weft_buf_printf(&b,
                    "weft %s abi %u\ncc %s %lld %lld\nwasm2c %s %lld %lld\nflags %s\nmodule %s\n",
                    WEFT_VERSION, WEFT_GLUE_ABI, cc, (long long)sc.st_size, (long long)sc.st_mtime,
                    w2c, (long long)sw.st_size, (long long)sw.st_mtime, flags, modhex);
    /* The embedded runtime header is part of the ABI too. */
    weft_buf_puts(&b, weft_embedded_wasm_rt_h);
    uint8_t k[32];
    weft_sha256(b.data, b.len, k);
    weft_buf_free(&b);
    weft_hex(k, 32, key);
    return 0;
}

/* ---- Lock ---------------------------------------------------------------------------- */

int weft_cache_lock(const char *dir, const char *key, char *lockpath, size_t size) {
    snprintf(lockpath, size, "%s/%s.lock", dir, key);
    int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock >= 0)
        while (flock(lock, LOCK_EX) != 0 && errno == EINTR)
            ;
    return lock;
}

void weft_cache_unlock(int lock, const char *lockpath) {
    if (lock >= 0) {
        unlink(lockpath);
        close(lock);
    }
}

/* ---- Artifact trailer ---------------------------------------------------------------- */

bool weft_artifact_is(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    unsigned char magic[4];
    bool is = read(fd, magic, 4) == 4 && !memcmp(magic,
                                                 "\x7f"
                                                 "ELF",
                                                 4);
    close(fd);
    return is;
}

int weft_artifact_verify(const char *path, weft_error_t *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return weft_error_set(err, WEFT_ENOTFOUND, "%s: %s", path, strerror(errno));
    int rc = 0;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) || st.st_size < WEFT_TRAILER_BYTES + 4) {
        rc = weft_error_set(err, WEFT_ELOAD, "%s: truncated artifact", path);
        goto out;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = weft_error_set(err, WEFT_ELOAD, "%s: %s", path, strerror(errno));
        goto out;
    }
    const uint8_t *t = (const uint8_t *)map + st.st_size - WEFT_TRAILER_BYTES;
    uint64_t len;
    memcpy(&len, t + 32, 8);
    if (memcmp(t + 40, WEFT_ARTIFACT_MAGIC, 8) != 0 ||
        len != (uint64_t)st.st_size - WEFT_TRAILER_BYTES) {
        rc = weft_error_set(err, WEFT_ELOAD, "%s: not a weft artifact, or truncated", path);
        goto out;
    }
    uint8_t sum[32];
    weft_sha256(map, (size_t)len, sum);
    if (memcmp(sum, t, 32) != 0)
        rc = weft_error_set(err, WEFT_ELOAD, "%s: corrupt artifact (checksum mismatch)", path);
out:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    close(fd);
    return rc;
}

int weft_artifact_store(const char *so, const char *dest, weft_error_t *err) {
    uint8_t *data = NULL;
    size_t len;
    int rc = weft_file_read(so, &data, &len, err);
    if (rc)
        return rc;
    if (len < 64) {
        free(data);
        return weft_error_set(err, WEFT_ECOMPILE, "the C compiler wrote an empty object");
    }
    uint8_t *full = realloc(data, len + WEFT_TRAILER_BYTES);
    if (!full) {
        free(data);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    weft_sha256(full, len, full + len);
    uint64_t l = len;
    memcpy(full + len + 32, &l, 8);
    memcpy(full + len + 40, WEFT_ARTIFACT_MAGIC, 8);
    rc = weft_file_write_atomic(dest, full, len + WEFT_TRAILER_BYTES, err);
    free(full);
    return rc;
}
