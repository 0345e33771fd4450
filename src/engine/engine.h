/* engine: WebAssembly bytes to native code, and instances of that code.
 *
 * A module is compiled ahead of time: the .wasm is read and checked (imports, SIMD),
 * translated to C by wasm2c, compiled by the system C compiler into a shared object and
 * kept in a content-addressed cache. Loading a module dlopen()s that artifact; an
 * instance is a fresh copy of the module's state (linear memory from a pool, globals,
 * tables) that runs one call and is freed.
 *
 * Host functions (WASI, outbound HTTP, ...) are plain C functions exported by the weft
 * executable under wasm2c's names (Z_<module>Z_<name>); each receives the instance's
 * weft_guest_t as its first argument. The engine does not know what they do: the layers
 * above register the table of what they provide (weft_engine_provide) so that a module
 * importing anything else is refused before it is compiled.
 */
#ifndef WEFT_ENGINE_H
#define WEFT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"
#include "wasm-rt.h"

/* ---- Host functions ------------------------------------------------------------- */

/* One function the host provides to guests. sig spells the wasm type as parameter
 * letters, a colon, result letters: i=i32 I=i64 f=f32 F=f64. "iiii:i" is
 * (func (param i32 i32 i32 i32) (result i32)); ":" is (func). */
typedef struct weft_import_def {
    const char *module;
    const char *name;
    const char *sig;
} weft_import_def_t;

/* How many tables of host functions, and how many loaders, the engine holds. */
#define WEFT_MAX_PROVIDERS 16

/* Adds defs (borrowed for the life of the process) to what guests may import. Call at
 * start-up, before compiling or loading anything. Adding the same defs again does
 * nothing; adding more than WEFT_MAX_PROVIDERS tables fails with WEFT_ELIMIT. */
int weft_engine_provide(const weft_import_def_t *defs, size_t n, weft_error_t *err);
/* Registers a loader for the host functions of import module `module` that are not in
 * the weft binary itself but in a plugin loaded on demand (so that commands which do not
 * need them do not pay for loading their libraries). The loader runs once, before a
 * module importing from `module` is compiled or loaded, and must make the functions
 * available (dlopen with RTLD_GLOBAL) and provide their defs. More than
 * WEFT_MAX_PROVIDERS loaders fail with WEFT_ELIMIT. */
int weft_engine_provide_loader(const char *module, int (*load)(weft_error_t *err),
                               weft_error_t *err);
/* Makes sure the functions of import module `module` are available, running its loader
 * if it has one. */
int weft_engine_require_module(const char *module, weft_error_t *err);

/* Finds a provided import, or NULL. */
const weft_import_def_t *weft_engine_find_import(const char *module, const char *name);

/* What every host function receives first: the instance's link to its embedder. The
 * engine sets memory (NULL if the module has none); the embedder owns the rest. */
typedef struct weft_guest {
    wasm_rt_memory_t *memory;
    struct weft_wasi *wasi;          /* WASI state, owned by the embedder */
    void *host;                      /* further host APIs (outbound HTTP, stores), embedder's */
    struct weft_instance *instance_; /* the engine's: the instance running (weft_guest_invoke) */
} weft_guest_t;

/* Returns a host pointer to the guest bytes [addr, addr+len), or NULL when any of them
 * lies outside the guest's memory. Every guest pointer goes through this (or
 * weft_guest_check) before use: the guest is hostile. */
static inline void *weft_guest_ptr(weft_guest_t *g, uint32_t addr, uint64_t len) {
    if (!g->memory || (uint64_t)addr + len > g->memory->size)
        return NULL;
    return g->memory->data + addr;
}
static inline bool weft_guest_check(weft_guest_t *g, uint32_t addr, uint64_t len) {
    return g->memory && (uint64_t)addr + len <= g->memory->size;
}

/* Calls the guest's export `name`, of type sig ("iiii:i"), from a host function that
 * guest code called: the canonical ABI's canonical_abi_realloc, with which the host
 * allocates in the guest's memory what it hands back. args holds one value per parameter,
 * results gets one per result (weft_value_t, below). Returns 0 when the export returned;
 * -1 when the instance has no export of that name and type (nothing was called);
 * otherwise the guest trapped or exited inside it, and the value returned is a token for
 * weft_guest_unwind, which the host function calls once it has freed what it holds:
 * the trap or the exit then ends the call as if the guest itself had raised it. The
 * guest's memory may have grown: take pointers into it again after the call. */
int weft_guest_invoke(weft_guest_t *g, const char *name, const char *sig, const uint64_t *args,
                      uint64_t *results);
__attribute__((noreturn)) void weft_guest_unwind(int token);

/* Ends the running guest as if it returned from its entry point with exit status
 * code (WASI proc_exit). Only callable from a host function called by guest code. */
__attribute__((noreturn)) void weft_guest_exit(uint32_t code);

/* True once the deadline of the call running on this thread has passed. Host functions
 * that block (read, poll, sleep) check it when a system call returns EINTR and return
 * to the guest promptly: the engine stops the guest as soon as it runs again. */
bool weft_deadline_expired(void);

/* ---- Traps ----------------------------------------------------------------------- */

#define WEFT_TRAPS(X)                                                                              \
    X(NONE, "no trap")                                                                             \
    X(OOB, "out-of-bounds memory access")                                                          \
    X(INT_OVERFLOW, "integer overflow")                                                            \
    X(DIV_BY_ZERO, "integer divide by zero")                                                       \
    X(INVALID_CONVERSION, "invalid conversion to integer")                                         \
    X(UNREACHABLE, "unreachable instruction executed")                                             \
    X(CALL_INDIRECT, "indirect call type mismatch")                                                \
    X(UNCAUGHT_EXCEPTION, "uncaught exception")                                                    \
    X(EXHAUSTION, "call stack exhausted")                                                          \
    X(DEADLINE, "deadline exceeded")                                                               \
    X(MEMORY_LIMIT, "memory limit exceeded")                                                       \
    X(UNKNOWN_IMPORT, "unknown import called")

typedef enum {
#define WEFT_TRAP_ENUM_(name, text) WEFT_TRAP_##name,
    WEFT_TRAPS(WEFT_TRAP_ENUM_)
#undef WEFT_TRAP_ENUM_
} weft_trap_t;

/* "integer divide by zero" */
const char *weft_trap_text(weft_trap_t trap);

/* ---- Modules --------------------------------------------------------------------- */

typedef struct weft_module weft_module_t;

/* Tiers: the same module compiled two ways, each cached by content. The fast tier
 * (tcc) compiles about ten times faster and runs several times slower; the optimized
 * tier (cc -O2) is the one to serve with. */
typedef enum weft_tier {
    /* $WEFT_TIER ("fast" or "opt") when set; else the optimized tier if it is in the
     * cache; else, for a module of at least WEFT_TIER_FAST_FROM bytes, the fast tier
     * when tcc is installed; else the optimized tier, compiled now. */
    WEFT_TIER_AUTO = 0,
    WEFT_TIER_FAST,
    WEFT_TIER_OPT,
} weft_tier_t;
/* Smaller modules compile with cc -O2 in about a second: they always get that tier. */
#define WEFT_TIER_FAST_FROM 1000000
/* What becomes of a module's function imports that weft does not provide (wasmtime's
 * -W unknown-imports-trap=y and -W unknown-imports-default=y). The artifact is the same
 * in every mode: each such import is compiled as a stub that asks the running call what
 * to do, so that changing the mode never recompiles a module. Imports of memories,
 * tables and globals weft does not provide are refused in every mode. */
typedef enum {
    WEFT_UNKNOWN_IMPORTS_REFUSE = 0, /* the module is refused, the import named */
    WEFT_UNKNOWN_IMPORTS_TRAP,       /* a call of one traps, naming it */
    WEFT_UNKNOWN_IMPORTS_DEFAULT,    /* a call of one returns zeros */
} weft_unknown_imports_t;

typedef struct weft_compile_opts {
    const char *cache_dir; /* NULL: $XDG_CACHE_HOME/weft or ~/.cache/weft */
    bool quiet;            /* no progress on stderr */
    weft_tier_t tier;
    /* When set (by another thread) while compiling: the compilers are stopped and the
     * compile fails with WEFT_ECANCELED. NULL: never. */
    const _Atomic bool *cancel;
    /* Compiling: refuse a module with unknown function imports, or stub them (a module
     * found in the cache is not checked again: its artifact is refused when loaded).
     * Loading: refuse an artifact with stubs, or what calling them does. */
    weft_unknown_imports_t unknown_imports;
    /* Compiling the fast tier: keep its translation to C for a compile of the optimized
     * tier that follows in this process, which then skips translating (wasm2c). */
    bool keep_c;
} weft_compile_opts_t;

/* "fast", "optimized", "auto". */
const char *weft_tier_name(weft_tier_t tier);
/* Can this machine build the tier (the fast one needs tcc)? */
bool weft_tier_available(weft_tier_t tier);

/* Writes the cache folder (opts->cache_dir, $XDG_CACHE_HOME/weft or ~/.cache/weft) to out
 * and creates it. Other layers keep what they derive from modules in it too (the app
 * layer's converted .wat files, in its wat/ folder). */
int weft_cache_dir(const weft_compile_opts_t *opts, char *out, size_t size, weft_error_t *err);

/* Compiles the module at wasm_path into the cache (or finds it there, its checksum
 * verified) and writes the artifact's path to artifact (size bytes). The one way into
 * the pipeline (compile.c); weft_module_load of a .wasm comes through here. */
int weft_module_compile(const char *wasm_path, const weft_compile_opts_t *opts, char *artifact,
                        size_t size, weft_error_t *err);
/* As weft_module_compile, in the tier opts->tier chooses; *built (if not NULL) says
 * which tier the artifact is. */
int weft_module_compile_tier(const char *wasm_path, const weft_compile_opts_t *opts, char *artifact,
                             size_t size, weft_tier_t *built, weft_error_t *err);

/* Loads a module from a .wasm (compiled through the cache) or from a compiled artifact.
 * The module is shared and immutable; it lives until the last weft_module_release. */
int weft_module_load(const char *path, const weft_compile_opts_t *opts, weft_module_t **out,
                     weft_error_t *err);
void weft_module_retain(weft_module_t *m);
void weft_module_release(weft_module_t *m);

/* Does the module export a function `name` of type (func)? */
bool weft_module_has_entry(const weft_module_t *m, const char *name);
/* The module's function exports, in its order: name (i from 0 to count - 1) and type,
 * spelt as weft_import_def_t spells it ("ii:i"); the type is NULL for an export that
 * takes or returns references (which weft cannot pass) and for a name it does not
 * export. */
size_t weft_module_export_count(const weft_module_t *m);
const char *weft_module_export_name(const weft_module_t *m, size_t i);
const char *weft_module_export_sig(const weft_module_t *m, const char *name);
/* Does the module import functions from import module `module`? */
bool weft_module_imports(const weft_module_t *m, const char *module);
/* The tier it was compiled to (WEFT_TIER_AUTO: loaded from an artifact file). */
weft_tier_t weft_module_tier(const weft_module_t *m);
/* Name the module was loaded from (for messages). */
const char *weft_module_name(const weft_module_t *m);

/* ---- Instances ------------------------------------------------------------------- */

typedef struct weft_limits {
    uint64_t max_memory; /* bytes of linear memory; 0: the module's own maximum */
    uint64_t timeout_ns; /* wall time for instantiate + call; 0: none */
} weft_limits_t;

typedef enum {
    WEFT_OUTCOME_RETURNED, /* the entry point returned */
    WEFT_OUTCOME_EXITED,   /* proc_exit(code) */
    WEFT_OUTCOME_TRAPPED,  /* trap says why */
} weft_outcome_kind_t;

typedef struct weft_outcome {
    weft_outcome_kind_t kind;
    uint32_t exit_code;
    weft_trap_t trap;
    /* A trap's own message when it has one ("unknown import env.bridge called"); lives
     * as long as the process (artifacts stay mapped). NULL: weft_trap_text(trap). */
    const char *trap_detail;
} weft_outcome_t;

/* The text of a trap: its own message, else its kind's. */
static inline const char *weft_outcome_trap_text(const weft_outcome_t *o) {
    return o->trap_detail ? o->trap_detail : weft_trap_text(o->trap);
}

typedef struct weft_instance weft_instance_t;

/* Instantiates m and runs entry (e.g. "_start") under limits. guest is borrowed for
 * the duration of the call; its memory field is set by the engine. Returns 0 when the
 * guest ran (whatever its outcome, in *out), or an error when it could not be started
 * (no such entry). Safe to call from many threads at once.
 *
 * A WASI reactor's _initialize runs once in every instance, before the first call of
 * any other export, as wasmtime runs it (also when the module exports _start as well);
 * when it traps or exits, the entry is not called and *out says how it ended. */
int weft_module_run(weft_module_t *m, const char *entry, weft_guest_t *guest,
                    const weft_limits_t *limits, weft_outcome_t *out, weft_error_t *err);

/* The same in two steps, for embedders that want the instance between instantiation and
 * the call (e.g. to read exports). Instantiation can itself trap (data out of bounds,
 * memory limit), reported through *out with a return of 0 and a NULL *inst. */
int weft_instance_new(weft_module_t *m, weft_guest_t *guest, const weft_limits_t *limits,
                      weft_instance_t **inst, weft_outcome_t *out, weft_error_t *err);
int weft_instance_call(weft_instance_t *inst, const char *entry, weft_outcome_t *out,
                       weft_error_t *err);

/* A wasm value as its bits: i32 and f32 in the low 32 bits, i64 and f64 in all 64. */
typedef uint64_t weft_value_t;

/* Calls export `name`, of any type weft_module_export_sig spells, with args (one per
 * parameter) and writes its results (one per result) to results; _initialize runs
 * first as for weft_instance_call. */
int weft_instance_invoke(weft_instance_t *inst, const char *name, const weft_value_t *args,
                         weft_value_t *results, weft_outcome_t *out, weft_error_t *err);
void weft_instance_free(weft_instance_t *inst);

/* Process-wide memory pool statistics, for tests and benchmarks. */
typedef struct weft_pool_stats {
    size_t reserved; /* reservations that exist (in use + free) */
    size_t in_use;
    uint64_t reused; /* allocations served from the pool */
} weft_pool_stats_t;
void weft_pool_stats(weft_pool_stats_t *s);

#endif
