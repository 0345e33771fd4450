/* cache: where compiled artifacts live, what they are named by, and how a standalone
 * artifact joins them.
 *
 * The folder is opts->cache_dir, else $XDG_CACHE_HOME/weft, else ~/.cache/weft. In it,
 * for a module whose key is K:
 *   K.so              the artifact (artifact.c: a shared object, then a trailer)
 *   K.lock            held (flock) by the one process compiling K
 *   tmp-K-<pid>-XXXX  that process's build folder (kept with WEFT_KEEP_BUILD=1)
 *   art-S.so          a copy of a standalone artifact (`weft compile -o`) whose
 *                     checksum is S, loaded instead of it (weft_cache_adopt)
 *   wat/              .wat sources converted by the app layer (app.c)
 *
 * The key covers the module bytes, weft's version and glue ABI, the artifact format,
 * the C compiler and wasm2c (resolved path, size, mtime), the compiler flags, the
 * embedded runtime header and what rewrite.c inserts into the generated C, so a change
 * to any of them compiles anew; so does a change to the text that weft_cache_key
 * hashes, which is why it only changes with a reason.
 *
 * Artifacts are written under a temporary name and renamed, so a reader sees either
 * none or a whole one; their trailer catches what a rename cannot (a disk that lost
 * blocks, a copy cut short). Nothing in the folder is ever written in place.
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

int weft_cache_key(const uint8_t *bytes, size_t len, const char *cc_cmd, const char *flags,
                   char key[65], weft_error_t *err) {
    char cc[PATH_MAX], w2c[PATH_MAX];
    if (weft_tool_find(cc_cmd, cc, sizeof cc))
        return weft_error_set(
            err, WEFT_ECOMPILE,
            "no C compiler '%s' found: install gcc (apt-get install gcc) or set CC", cc_cmd);
    if (weft_tool_find("wasm2c", w2c, sizeof w2c))
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
    weft_buf_printf(
        &b,
        "weft %s abi %u artifact %c\ncc %s %lld %lld\nwasm2c %s %lld %lld\nflags %s\nmodule %s\n",
        WEFT_VERSION, WEFT_GLUE_ABI, WEFT_ARTIFACT_FORMAT, cc, (long long)sc.st_size,
        (long long)sc.st_mtime, w2c, (long long)sw.st_size, (long long)sw.st_mtime, flags, modhex);
    /* The embedded runtime header is part of the ABI too, and what rewrite.c inserts
     * into the generated C is part of the code. */
    weft_buf_puts(&b, weft_embedded_wasm_rt_h);
    weft_buf_puts(&b, weft_rewrite_text());
    weft_buf_puts(&b, weft_rewrite_guard_text());
    weft_buf_puts(&b, weft_rewrite_fneg_text());
    weft_buf_puts(&b, weft_loops_text());
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

/* ---- Standalone artifacts ------------------------------------------------------------ */

/* Is the file at path in the folder dir? */
static bool in_folder(const char *path, const char *dir) {
    char rp[PATH_MAX], rd[PATH_MAX];
    if (!realpath(path, rp) || !realpath(dir, rd))
        return false;
    char *slash = strrchr(rp, '/');
    if (!slash)
        return false;
    *slash = 0;
    return !strcmp(rp[0] ? rp : "/", rd);
}

/* Does the file at path hold exactly data[0..len)? */
static bool same_bytes(const char *path, const uint8_t *data, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool same = false;
    if (!fstat(fd, &st) && len > 0 && (uint64_t)st.st_size == len) {
        void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            same = !memcmp(map, data, len);
            munmap(map, len);
        }
    }
    close(fd);
    return same;
}

/* A standalone artifact is read once, checked in memory, and loaded from a copy of
 * those bytes in the cache, named by their checksum, rather than from where it lies:
 * - what is checked is what is loaded: a file replaced between the check and dlopen()
 *   cannot slip in unchecked code;
 * - the user's file can be overwritten while weft runs it (`cp new.wasmc app.wasmc`
 *   truncates and rewrites the inode in place, which kills a process that maps it
 *   with SIGBUS); the cache's files are only ever replaced by rename;
 * - dlopen() returns the handle already open for a path it has seen, whatever the
 *   file holds now: a path per content means the same bytes share one handle (and
 *   their pages, across processes) and new bytes are never taken for old ones.
 * The copy costs one write the first time, then one comparison. A file already in the
 * cache folder is loaded where it is, and so is any artifact when the cache cannot be
 * written (a read-only home), as it is still checked; a path without a slash then gets
 * "./", or dlopen() would search the library path for it. */
int weft_cache_adopt(const char *path, const weft_compile_opts_t *opts, char *out, size_t size,
                     weft_error_t *err) {
    uint8_t *data = NULL;
    size_t len = 0;
    uint8_t sum[32];
    int rc = weft_file_read(path, &data, &len, err);
    if (rc)
        return rc;
    if ((rc = weft_artifact_check(path, data, len, sum, err)))
        goto out;
    char dir[PATH_MAX - 100], hex[65];
    bool copied = false;
    if (weft_cache_dir(opts, dir, sizeof dir, NULL) == 0 && !in_folder(path, dir)) {
        weft_hex(sum, 32, hex);
        int n = snprintf(out, size, "%s/art-%s.so", dir, hex);
        copied = n > 0 && (size_t)n < size &&
                 (same_bytes(out, data, len) || weft_file_write_atomic(out, data, len, NULL) == 0);
    }
    if (!copied && snprintf(out, size, "%s%s", strchr(path, '/') ? "" : "./", path) >= (int)size)
        rc = weft_error_set(err, WEFT_EINVAL, "%s: path too long", path);
out:
    free(data);
    return rc;
}
