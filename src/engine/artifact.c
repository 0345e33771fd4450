/* artifact: the file a module is compiled into, and what weft checks of one before it
 * dlopen()s it.
 *
 * An artifact is the shared object the C compiler wrote, then weft's trailer:
 *
 *   shared object    L bytes: all that dlopen() maps (it ignores the bytes after)
 *   meta             what the code needs of the weft that loads it:
 *     u32            glue ABI (WEFT_GLUE_ABI, glue.h)
 *     char[32]       weft's version (WEFT_VERSION), NUL-padded
 *     char[32]       the target it was compiled for ("x86_64-linux-gnu"), NUL-padded
 *     u8[32]         SHA-256 of the runtime headers compiled into it (wasm-rt.h, glue.h)
 *   u8[32]           SHA-256 of the shared object and the meta
 *   u64              L
 *   "WEFTART2"       magic; its last character is the format of the trailer
 *
 * Integers are little-endian whatever the host, so that an artifact from another
 * machine is still read well enough to say that it is one. The same bytes are the
 * cache's <key>.so and the file `weft compile -o` writes. The cache key names
 * everything the meta holds but the target, yet a standalone artifact has no key: what
 * it was built by and for must be in the file, and read before dlopen(), which runs
 * the object's code (its constructors) and on another CPU fails with the loader's
 * words ("wrong ELF class") instead of weft's.
 *
 * The checks come in an order that names the first thing wrong: the magic (or, when
 * it is missing, the ELF header, to tell a cut-off file from a shared object weft did
 * not write), the length, the checksum, then the meta. The checksum comes before the
 * meta so that a damaged byte in the meta is reported as damage, not as a foreign
 * artifact. The target is what weft itself was compiled for: an artifact runs inside
 * weft's process, and weft compiles with no -march, so the baseline of the
 * architecture is all an artifact asks of the CPU.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded_headers.h"
#include "engine_internal.h"
#include "glue.h"

#define WEFT_ARTIFACT_MAGIC_PREFIX "WEFTART" /* then one character: the format */
#define WEFT_ARTIFACT_STR_BYTES 32
#define WEFT_ARTIFACT_META_BYTES (4 + 2 * WEFT_ARTIFACT_STR_BYTES + 32)
/* From the end of the file: magic (8), length (8), checksum (32), meta. */
#define WEFT_ARTIFACT_TRAILER_BYTES (8 + 8 + 32 + WEFT_ARTIFACT_META_BYTES)

#if defined(__x86_64__)
#define WEFT_ARCH "x86_64"
#elif defined(__aarch64__) && defined(__AARCH64EB__)
#define WEFT_ARCH "aarch64_be"
#elif defined(__aarch64__)
#define WEFT_ARCH "aarch64"
#elif defined(__i386__)
#define WEFT_ARCH "i386"
#elif defined(__arm__)
#define WEFT_ARCH "arm"
#elif defined(__riscv) && __riscv_xlen == 64
#define WEFT_ARCH "riscv64"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WEFT_ARCH "ppc64le"
#elif defined(__powerpc64__)
#define WEFT_ARCH "ppc64"
#elif defined(__s390x__)
#define WEFT_ARCH "s390x"
#elif defined(__loongarch64)
#define WEFT_ARCH "loongarch64"
#else
#define WEFT_ARCH "unknown"
#endif
#if defined(__GLIBC__)
#define WEFT_TARGET WEFT_ARCH "-linux-gnu"
#else
#define WEFT_TARGET WEFT_ARCH "-linux"
#endif

/* ---- Little-endian fields --------------------------------------------------------- */

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* A NUL-padded text field of the meta, for a message: printable ASCII only, as the
 * file may come from anywhere. */
static void field_text(const uint8_t *f, char out[WEFT_ARTIFACT_STR_BYTES + 1]) {
    int i = 0;
    for (; i < WEFT_ARTIFACT_STR_BYTES && f[i]; i++)
        out[i] = f[i] >= 0x20 && f[i] < 0x7f ? (char)f[i] : '?';
    out[i] = 0;
}

/* SHA-256 of the runtime headers an artifact is compiled against. */
static void runtime_sum(uint8_t out[32]) {
    weft_buf_t b = {0};
    weft_buf_puts(&b, weft_embedded_wasm_rt_h);
    weft_buf_puts(&b, weft_embedded_glue_h);
    weft_sha256(b.data, b.len, out);
    weft_buf_free(&b);
}

static void meta_write(uint8_t *m) {
    memset(m, 0, WEFT_ARTIFACT_META_BYTES);
    put_le(m, WEFT_GLUE_ABI, 4);
    memcpy(m + 4, WEFT_VERSION, strlen(WEFT_VERSION));
    memcpy(m + 4 + WEFT_ARTIFACT_STR_BYTES, WEFT_TARGET, strlen(WEFT_TARGET));
    runtime_sum(m + 4 + 2 * WEFT_ARTIFACT_STR_BYTES);
}

/* ---- Checks ------------------------------------------------------------------------ */

/* Sets err to "NAME: <what>; recompile it from its .wasm: ..." and returns WEFT_ELOAD. */
__attribute__((format(printf, 3, 4))) static int refuse(weft_error_t *err, const char *name,
                                                        const char *fmt, ...) {
    char what[WEFT_ERROR_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return weft_error_set(err, WEFT_ELOAD,
                          "%s: %s; recompile it from its .wasm: weft compile MODULE.wasm -o %s",
                          name, what, name);
}

/* Where the ELF file in data should end (its header, program and section header
 * tables; a linker writes the section headers last), or 0 when data does not start
 * with a readable ELF header. */
static uint64_t elf_end(const uint8_t *d, size_t len) {
    if (len < 52 || memcmp(d,
                           "\x7f"
                           "ELF",
                           4))
        return 0;
    bool is64 = d[4] == 2, le = d[5] == 1;
    if ((!is64 && d[4] != 1) || (!le && d[5] != 2) || (is64 && len < 64))
        return 0;
    /* Offsets of e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum. */
    static const int off64[] = {0x20, 0x28, 0x36, 0x38, 0x3a, 0x3c};
    static const int off32[] = {0x1c, 0x20, 0x2a, 0x2c, 0x2e, 0x30};
    const int *o = is64 ? off64 : off32;
    uint64_t v[6];
    for (int i = 0; i < 6; i++) {
        int n = i < 2 ? (is64 ? 8 : 4) : 2;
        const uint8_t *p = d + o[i];
        v[i] = 0;
        for (int k = 0; k < n; k++)
            v[i] = le ? v[i] | (uint64_t)p[k] << (8 * k) : v[i] << 8 | p[k];
    }
    uint64_t ph = v[0] + v[2] * v[3], sh = v[1] + v[4] * v[5];
    return ph > sh ? ph : sh;
}

/* A file without weft's trailer: cut off, or a shared object weft did not write. */
static int refuse_no_trailer(const char *name, const uint8_t *d, size_t len, weft_error_t *err) {
    uint64_t end = elf_end(d, len);
    if (!end)
        return refuse(err, name, "truncated artifact (%zu bytes, no ELF header)", len);
    if (len < end)
        return refuse(err, name,
                      "truncated artifact (%zu bytes; its ELF header says %llu at least)", len,
                      (unsigned long long)end);
    if (len == end)
        return refuse(err, name,
                      "not a weft artifact, or truncated: a shared object without weft's "
                      "trailer");
    if (len < end + WEFT_ARTIFACT_TRAILER_BYTES)
        return refuse(err, name, "truncated artifact (%zu bytes, its trailer is cut off)", len);
    return refuse(err, name, "corrupted artifact (it does not end with weft's trailer)");
}

int weft_artifact_check(const char *name, const uint8_t *d, size_t len, uint8_t sum[32],
                        weft_error_t *err) {
    size_t pre = strlen(WEFT_ARTIFACT_MAGIC_PREFIX);
    if (len < 8 || memcmp(d + len - 8, WEFT_ARTIFACT_MAGIC_PREFIX, pre))
        return refuse_no_trailer(name, d, len, err);
    char format = (char)d[len - 1];
    if (format != WEFT_ARTIFACT_FORMAT)
        return refuse(err, name,
                      "artifact built by another version of weft (artifact format %c, this weft "
                      "reads format %c)",
                      format >= 0x20 && format < 0x7f ? format : '?', WEFT_ARTIFACT_FORMAT);
    if (len < WEFT_ARTIFACT_TRAILER_BYTES)
        return refuse(err, name, "truncated artifact (%zu bytes, less than weft's trailer)", len);
    const uint8_t *t = d + len - WEFT_ARTIFACT_TRAILER_BYTES;
    const uint8_t *meta = t, *stored = t + WEFT_ARTIFACT_META_BYTES;
    uint64_t so_len = get_le(stored + 32, 8);
    if (so_len != len - WEFT_ARTIFACT_TRAILER_BYTES)
        return refuse(err, name,
                      "corrupted artifact (its trailer gives %llu bytes of code, the file holds "
                      "%zu)",
                      (unsigned long long)so_len, len - WEFT_ARTIFACT_TRAILER_BYTES);
    uint8_t got[32];
    weft_sha256(d, so_len + WEFT_ARTIFACT_META_BYTES, got);
    if (memcmp(got, stored, 32))
        return refuse(err, name, "corrupted artifact (checksum mismatch)");

    char version[WEFT_ARTIFACT_STR_BYTES + 1], target[WEFT_ARTIFACT_STR_BYTES + 1];
    field_text(meta + 4, version);
    field_text(meta + 4 + WEFT_ARTIFACT_STR_BYTES, target);
    if (strcmp(target, WEFT_TARGET))
        return refuse(err, name, "artifact built for another CPU (%s; this machine runs %s)",
                      target, WEFT_TARGET);
    uint32_t abi = (uint32_t)get_le(meta, 4);
    if (abi != WEFT_GLUE_ABI || strcmp(version, WEFT_VERSION))
        return refuse(err, name,
                      "artifact built by another version of weft (weft %s, glue ABI %u; this is "
                      "weft %s, glue ABI %u)",
                      version, abi, WEFT_VERSION, WEFT_GLUE_ABI);
    uint8_t runtime[32];
    runtime_sum(runtime);
    if (memcmp(runtime, meta + 4 + 2 * WEFT_ARTIFACT_STR_BYTES, 32))
        return refuse(err, name,
                      "artifact built by another build of weft %s (its runtime headers differ)",
                      version);
    if (sum)
        memcpy(sum, stored, 32);
    return 0;
}

int weft_artifact_verify(const char *path, weft_error_t *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return weft_error_set(err, WEFT_ENOTFOUND, "%s: %s", path, strerror(errno));
    int rc;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st)) {
        rc = weft_error_set(err, WEFT_EIO, "%s: %s", path, strerror(errno));
    } else if (st.st_size == 0) {
        rc = weft_artifact_check(path, (const uint8_t *)"", 0, NULL, err);
    } else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
               MAP_FAILED) {
        rc = weft_error_set(err, WEFT_EIO, "%s: %s", path, strerror(errno));
    } else {
        rc = weft_artifact_check(path, map, (size_t)st.st_size, NULL, err);
        munmap(map, (size_t)st.st_size);
    }
    close(fd);
    return rc;
}

bool weft_artifact_is(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    unsigned char head[4], tail[8];
    bool is = false;
    if (pread(fd, head, 4, 0) == 4 && !memcmp(head,
                                              "\x7f"
                                              "ELF",
                                              4))
        is = true;
    off_t end = lseek(fd, 0, SEEK_END);
    if (!is && end >= 8 && pread(fd, tail, 8, end - 8) == 8)
        is = !memcmp(tail, WEFT_ARTIFACT_MAGIC_PREFIX, strlen(WEFT_ARTIFACT_MAGIC_PREFIX));
    close(fd);
    return is;
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
    uint8_t *full = realloc(data, len + WEFT_ARTIFACT_TRAILER_BYTES);
    if (!full) {
        free(data);
        return weft_error_set(err, WEFT_ENOMEM, "out of memory");
    }
    uint8_t *t = full + len;
    meta_write(t);
    weft_sha256(full, len + WEFT_ARTIFACT_META_BYTES, t + WEFT_ARTIFACT_META_BYTES);
    put_le(t + WEFT_ARTIFACT_META_BYTES + 32, len, 8);
    memcpy(t + WEFT_ARTIFACT_META_BYTES + 40, WEFT_ARTIFACT_MAGIC_PREFIX, 7);
    t[WEFT_ARTIFACT_META_BYTES + 47] = WEFT_ARTIFACT_FORMAT;
    rc = weft_file_write_atomic(dest, full, len + WEFT_ARTIFACT_TRAILER_BYTES, err);
    free(full);
    return rc;
}
