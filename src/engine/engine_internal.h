/* engine_internal: what the engine's files share among themselves (not exported). */
#ifndef WEFT_ENGINE_INTERNAL_H
#define WEFT_ENGINE_INTERNAL_H

#include "engine.h"
#include "glue.h"

/* ---- runtime.c ---- */

/* One guarded call into guest code. */
typedef struct weft_rt_call {
    void (*fn)(void *arg);
    void *arg;
    uintptr_t code_lo, code_hi; /* the module's executable segment */
    uint64_t deadline_ns;       /* absolute, weft_now_ns() clock; 0: none */
    uint32_t limit_pages;       /* memory limit for memories allocated by fn; 0: none */
} weft_rt_call_t;

/* Runs call->fn inside a trap boundary; *out says how it ended. */
int weft_rt_run(const weft_rt_call_t *call, weft_outcome_t *out, weft_error_t *err);
weft_trap_t weft_rt_trap_kind(wasm_rt_trap_t t);
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

/* ---- module.c ---- */

struct weft_module {
    int refs; /* atomic */
    void *dl;
    const weft_glue_t *glue;
    uintptr_t code_lo, code_hi;
    char *name;
};

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
int weft_cache_build_dir(const char *dir, const char *key, char *out, size_t size,
                         weft_error_t *err);
/* Waits for dir/<key>.lock, the lock of whoever compiles key; writes its path to
 * lockpath. Returns the descriptor to give weft_cache_unlock, or -1 when the lock file
 * cannot be opened (the compile then goes on unserialized, as it is still correct). */
int weft_cache_lock(const char *dir, const char *key, char *lockpath, size_t size);
void weft_cache_unlock(int lock, const char *lockpath);
/* Writes the shared object at so to dest (atomically) with the trailer appended. */
int weft_artifact_store(const char *so, const char *dest, weft_error_t *err);
/* Checks an artifact's trailer (size and SHA-256 of what precedes it). */
int weft_artifact_verify(const char *path, weft_error_t *err);
/* Is path a shared object (an artifact) rather than a .wasm? */
bool weft_artifact_is(const char *path);

#endif
