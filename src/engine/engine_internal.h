/* engine_internal: what the engine's files share among themselves (not exported).
 *
 * The files, and which way they call:
 *   module.c       loading artifacts, instances -> compile.c only through
 *                  weft_module_compile (engine.h); cache.c, imports.c, runtime.c, memory.c
 *   compile.c      the pipeline, .wasm to artifact -> wasm_reader.c, check.c, tools.c,
 *                  rewrite.c, glue.c, split.c, cache.c, artifact.c
 *   check.c        what weft refuses before translating -> imports.c
 *   tools.c        running wasm2c and the C compiler, progress lines
 *   rewrite.c      wasm2c's module.c rewritten (host calls guarded, fast memory access)
 *   glue.c         generated glue.c and data.S (glue.h's ABI)
 *   split.c        a large module.c cut into translation units
 *   cache.c        the cache folder, keys, locks; standalone artifacts taken in
 *                  -> artifact.c
 *   artifact.c     the artifact file: its trailer, the checks before dlopen()
 *   imports.c      what the host provides (engine.h only)
 *   wasm_reader.c  the module's structure (wasm_reader.h)
 *   runtime.c      traps, deadlines, guarded calls (wasm-rt.h) -> memory.c
 *   memory.c       linear memories from a pool (wasm-rt.h) -> runtime.c
 * runtime.c and memory.c, together weft's wasm2c runtime, call each other. Loading
 * depends on compiling, never the reverse: nothing in the pipeline calls module.c.
 */
#ifndef WEFT_ENGINE_INTERNAL_H
#define WEFT_ENGINE_INTERNAL_H

#include <string.h>

#include "engine.h"
#include "wasm_reader.h"

/* ---- runtime.c ---- */

/* One guarded call into guest code. */
typedef struct weft_rt_call {
    void (*fn)(void *arg);
    void *arg;
    uintptr_t code_lo, code_hi; /* the module's executable segment */
    uint64_t deadline_ns;       /* absolute, weft_now_ns() clock; 0: none */
    uint32_t limit_pages;       /* memory limit for memories allocated by fn; 0: none */
    uint8_t unknown_imports;    /* weft_unknown_imports_t: what stubs do during fn */
} weft_rt_call_t;

/* Runs call->fn inside a trap boundary; *out says how it ended. */
int weft_rt_run(const weft_rt_call_t *call, weft_outcome_t *out, weft_error_t *err);
weft_trap_t weft_rt_trap_kind(wasm_rt_trap_t t);
/* Runs fn(arg) inside a trap boundary nested in the running call's (a host function
 * calling back into its guest): 0 when fn returned, else the unwind code of the trap or
 * exit that ended it, which weft_rt_unwind raises again at the outer boundary. */
int weft_rt_nested(void (*fn)(void *arg), void *arg);
__attribute__((noreturn)) void weft_rt_unwind(int code);
/* Stops watching the deadline that the calls of an instance share; called when the
 * instance is freed (on the thread that ran it). */
void weft_rt_deadline_end(void);
/* memory.c tells runtime.c where the running instance's reservation is. */
void weft_rt_set_memory_range(uintptr_t lo, uintptr_t hi);
uint32_t weft_rt_limit_pages(void);

/* ---- memory.c ---- */

/* Tells the fault handler that mem belongs to the instance about to run on this thread. */
void weft_memory_make_current(const wasm_rt_memory_t *mem);
/* Gives the slot this thread kept back to the pool; called as the thread ends. */
void weft_memory_thread_exit(void);

/* ---- cache.c ---- (weft_cache_dir is in engine.h) */

/* The cache key of the module bytes[0..len) built with the C compiler cc (a command,
 * looked up in PATH) and flags (their text, as the pipeline passes them): 64 hex
 * digits and a NUL. Fails when cc or wasm2c cannot be found. */
int weft_cache_key(const uint8_t *bytes, size_t len, const char *cc, const char *flags,
                   char key[65], weft_error_t *err);
/* dir/<key>.so */
int weft_cache_artifact_path(const char *dir, const char *key, char *out, size_t size,
                             weft_error_t *err);
/* Creates a fresh build folder dir/tmp-<key>-<pid>-XXXXXX and writes its path to out
 * (out[0] is 0 when it fails). */
/* Removes a build folder and the files in it. */
void weft_cache_remove_tree(const char *dir);
/* Removes the build folders in dir left by compiles whose process is gone (killed,
 * or the machine stopped): their names carry the pid. A folder whose process still
 * exists is left alone, even if that pid now belongs to something else. */
void weft_cache_sweep(const char *dir);
int weft_cache_build_dir(const char *dir, const char *key, char *out, size_t size,
                         weft_error_t *err);
/* Waits for dir/<key>.lock, the lock of whoever compiles key; writes its path to
 * lockpath. Returns the descriptor to give weft_cache_unlock, or -1 when the lock file
 * cannot be opened (the compile then goes on unserialized, as it is still correct). */
int weft_cache_lock(const char *dir, const char *key, char *lockpath, size_t size);
void weft_cache_unlock(int lock, const char *lockpath);
/* Checks the standalone artifact at path (`weft compile -o`), takes it into the cache
 * (dir/art-<checksum>.so) and writes to out the path to dlopen(): that copy, or path
 * itself when it is in the cache already or the cache cannot be written (see cache.c). */
int weft_cache_adopt(const char *path, const weft_compile_opts_t *opts, char *out, size_t size,
                     weft_error_t *err);

/* ---- artifact.c ---- */

/* The format of the trailer weft writes (its magic's last character); part of the
 * cache key. */
#define WEFT_ARTIFACT_FORMAT '2'

/* Writes the shared object at so to dest (atomically) with the trailer appended. */
int weft_artifact_store(const char *so, const char *dest, weft_error_t *err);
/* Checks the artifact data[0..len) read from name before it is loaded: whole (not cut
 * off), undamaged (length and SHA-256), built for this CPU and by this weft (glue ABI,
 * version, runtime headers). A refusal says which, names the file and tells how to
 * recompile it. On success the checksum is written to sum (if not NULL). */
int weft_artifact_check(const char *name, const uint8_t *data, size_t len, uint8_t sum[32],
                        weft_error_t *err);
/* weft_artifact_check of the file at path. */
int weft_artifact_verify(const char *path, weft_error_t *err);
/* Is path an artifact rather than a .wasm? Decided by content: a shared object (ELF
 * magic), or a file that ends with weft's trailer magic (whose start may be damaged),
 * whatever its name. */
bool weft_artifact_is(const char *path);

/* ---- tools.c ---- */

/* Progress of one compile, for the lines weft_progress_note prints. */
typedef struct weft_progress {
    const char *module;
    size_t module_bytes;
    uint64_t started;
    uint64_t last_line; /* when a line was last printed */
    const char *stage;  /* the stage last printed */
    char detail[48];    /* "37/96 units", after the stage */
    bool shown;
    bool quiet;
    bool tty;
    const _Atomic bool *cancel; /* set: stop the tools (weft_compile_opts_t) */
    bool canceled;              /* they were stopped */
} weft_progress_t;

void weft_progress_note(weft_progress_t *p, const char *stage);
/* Runs the n commands argvs[i] in dir, at most jobs at once, their output to
 * dir/log<i>; stops starting more after the first failure. Returns the index of the
 * first that failed, or -1. Progress says "k/n units" when n > 1. */
int weft_tools_run(const char *dir, char *const *const argvs[], int n, int jobs, weft_progress_t *p,
                   const char *stage, bool *crashed);
/* How many compilers run at once: the cores this process may use. */
int weft_tool_jobs(void);
int weft_tool_run(const char *dir, char *const argv[], weft_progress_t *p, const char *stage,
                  bool *crashed);
/* The first lines of dir/log<i>, for an error message. */
void weft_tool_log(const char *dir, int i, char *out, size_t size);
/* Finds cmd in $PATH (or takes it as a path), resolved through symlinks, into out
 * (PATH_MAX bytes); -1 when it is not there to run. */
int weft_tool_find(const char *cmd, char *out, size_t size);
/* Is prog (a name looked up in $PATH, or a path) there to run? */
bool weft_tool_available(const char *prog);
/* The path of tcc's runtime library (libtcc1.a: conversions such as __floatundisf
 * that tcc's code calls), as tcc reports it; -1 when it cannot be found. */
int weft_tool_tcc_runtime(char *out, size_t size);
/* The C compiler: $CC, or cc. */
const char *weft_tool_cc(void);

/* ---- check.c ---- */

/* Refuses (with a message naming name) a module weft cannot run. Function imports that
 * weft does not provide are refused in mode WEFT_UNKNOWN_IMPORTS_REFUSE; in the other
 * modes they are marked in unknown (m->nimports flags, NULL when refusing) to be
 * stubbed. */
int weft_check_module(const char *name, const weft_wasm_module_t *m, weft_unknown_imports_t mode,
                      bool *unknown, weft_error_t *err);
/* "(func (param i32))", "(memory)", ...: import i's kind and type, for messages. */
void weft_check_import_str(const weft_wasm_module_t *m, uint32_t i, char *out, size_t size);

/* ---- rewrite.c ---- */

/* Rewrites dir/module.c in place; memory_field is the instance field of memory 0
 * (weft_glue_facts_t), "" when the module has none. */
int weft_rewrite_module_c(const char *dir, const char *memory_field, const uint8_t *wasm,
                          const weft_wasm_module_t *m, weft_error_t *err);
/* The text the rewrite inserts and a name of the edit it makes to calls, both part of
 * the cache key (cache.c). */
const char *weft_rewrite_text(void);
const char *weft_rewrite_guard_text(void);
const char *weft_rewrite_fneg_text(void);

/* ---- loops.c ---- */

/* Generated C over this many bytes is compiled at a lighter level than -O2 (compile.c),
 * which vectorizes nothing: the loop pass leaves C over half of it alone, so that its
 * copies neither cost compile time for nothing nor push a module over the line. */
#define WEFT_O2_MAX_BYTES 64000000
/* A function whose C is longer than this keeps its loops as they are (the pass looks
 * each loop up in its function's text). */
#define WEFT_LOOPS_MAX_FUNCTION_BYTES (256u << 10)

/* Writes to out the C text c[0..clen) with a guarded 64-bit copy before each loop of the
 * module (wasm, as read into m) that the pass can version, and sets *versioned to how
 * many; out stays empty when there is none. memory_field as for the rewrite. 0, or -1
 * when out of memory. */
int weft_loops_version(const uint8_t *wasm, const weft_wasm_module_t *m, const char *memory_field,
                       const char *c, size_t clen, weft_buf_t *out, int *versioned);
/* The text the pass inserts, for the cache key. */
const char *weft_loops_text(void);

/* ---- glue.c ---- */

/* The name the pipeline gives wasm2c (-n), which the generated glue refers to. */
#define WEFT_MODULE_NAME "weftmod"

/* Facts about wasm2c's output that the glue and the rewrite need, read from its header. */
typedef struct weft_glue_facts {
    int import_modules;     /* pointers instantiate takes after the instance */
    char memory_field[256]; /* "w2c_memory": the instance field of memory 0, or "" */
} weft_glue_facts_t;

int weft_glue_read_header(const char *hdr, weft_glue_facts_t *f, weft_error_t *err);
/* Writes dir/glue.c and dir/data.S for m; stripped: its data segments were removed from
 * the module given to wasm2c (weft_wasm_strip_data) and come back through data.S;
 * unknown (NULL: none): the imports, flagged by weft_check_module, that get stubs. */
int weft_glue_write(const char *dir, const weft_wasm_module_t *m, bool stripped,
                    const bool *unknown, const char *hdr, const weft_glue_facts_t *f,
                    weft_error_t *err);

/* ---- split.c ---- */

/* At most this many units per module. */
#define WEFT_MAX_UNITS 4096

/* Moves the function definitions of dir/module.c into about `units` runs of equal
 * size (dir/unit0.c, unit1.c, ...), compiled apart from module.c; *nunits says how
 * many (0: module.c is unchanged and compiles alone). */
int weft_split_module_c(const char *dir, int units, int *nunits, weft_error_t *err);

/* ---- rewrite.c and split.c: wasm2c's output as text ---- */

/* The first needle in [from, to), or NULL. */
static inline const char *weft_find_in(const char *from, const char *to, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = from; p && p + n <= to; p++) {
        p = memchr(p, needle[0], (size_t)(to - p));
        if (!p || p + n > to)
            return NULL;
        if (!memcmp(p, needle, n))
            return p;
    }
    return NULL;
}

#endif
