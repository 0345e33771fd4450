/* wasm-rt.h: the interface between wasm2c-generated code (wabt 1.0.32) and weft's
 * runtime (src/engine/runtime.c). wasm2c leaves this half to the embedder; the
 * declarations below keep the names and layouts the generated code relies on, and
 * weft's own choices are marked "weft:".
 *
 * This file is compiled into the weft binary and written next to the generated C of
 * every module at compile time, so it is the single source of truth for both sides.
 */
#ifndef WASM_RT_H_
#define WASM_RT_H_

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef __has_builtin
#define __has_builtin(x) 0
#endif

#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#ifdef __TINYC__
/* The fast tier (tcc) would call libc's memcpy for every load and store of linear
 * memory, and a fault there is outside the module's code, where weft cannot tell an
 * out-of-bounds access from a crash of its own: copy in the module's code instead. */
static inline void *weft_tcc_memcpy(void *d, const void *s, unsigned long n) {
    switch (n) {
    case 1:
        *(unsigned char *)d = *(const unsigned char *)s;
        break;
    case 2:
        *(unsigned short *)d = *(const unsigned short *)s;
        break;
    case 4:
        *(unsigned int *)d = *(const unsigned int *)s;
        break;
    case 8:
        *(unsigned long long *)d = *(const unsigned long long *)s;
        break;
    default:
        for (unsigned long i = 0; i < n; i++)
            ((unsigned char *)d)[i] = ((const unsigned char *)s)[i];
    }
    return d;
}
#define wasm_rt_memcpy weft_tcc_memcpy
#define wasm_rt_unreachable() ((void)0)
#else
#define wasm_rt_memcpy __builtin_memcpy
#define wasm_rt_unreachable __builtin_unreachable
#endif

/* weft: linear memories are reserved with guard regions covering every address a
 * 32-bit index plus a 32-bit offset can form, so loads and stores need no bounds check
 * (the MMU traps them), and call-stack overflow is caught by the same signal handler. */
#define WASM_RT_SKIP_SIGNAL_RECOVERY 0
#define WASM_RT_SIGNAL_RECOVERY_SUPPORTED 1
#define WASM_RT_MEMCHECK_SIGNAL_HANDLER 1
#define WASM_RT_USE_STACK_DEPTH_COUNT 0
#define WASM_RT_MERGED_OOB_AND_EXHAUSTION_TRAPS 0
#define WASM_RT_NO_RETURN __attribute__((noreturn))

/* weft: called by the generated code before every call of a host function (compile.c
 * inserts it); traps "call stack exhausted" when the native stack left is less than
 * the reserve host functions are given, so that no host function overflows it. */
void weft_rt_host_call(void);

/* weft: what the stub of an imported function weft does not provide calls (glue.c
 * generates one per such import; engine.h's weft_unknown_imports_t). It traps, with
 * message as the trap's text (a string constant of the artifact), unless the running
 * call returns zeros from unknown imports, in which case it returns and the stub
 * returns zeros. */
void weft_rt_unknown_import(const char *message);

typedef enum {
    WASM_RT_TRAP_NONE,
    WASM_RT_TRAP_OOB,
    WASM_RT_TRAP_INT_OVERFLOW,
    WASM_RT_TRAP_DIV_BY_ZERO,
    WASM_RT_TRAP_INVALID_CONVERSION,
    WASM_RT_TRAP_UNREACHABLE,
    WASM_RT_TRAP_CALL_INDIRECT,
    WASM_RT_TRAP_UNCAUGHT_EXCEPTION,
    WASM_RT_TRAP_EXHAUSTION,
    /* weft: traps the generated code never raises itself. */
    WASM_RT_TRAP_DEADLINE,
    WASM_RT_TRAP_MEMORY_LIMIT,
    WASM_RT_TRAP_UNKNOWN_IMPORT,
} wasm_rt_trap_t;

typedef enum {
    WASM_RT_I32,
    WASM_RT_I64,
    WASM_RT_F32,
    WASM_RT_F64,
    WASM_RT_FUNCREF,
    WASM_RT_EXTERNREF,
} wasm_rt_type_t;

typedef void (*wasm_rt_function_ptr_t)(void);

typedef struct {
    uint32_t func_type;
    wasm_rt_function_ptr_t func;
    void *module_instance;
} wasm_rt_funcref_t;

static const wasm_rt_funcref_t wasm_rt_funcref_null_value = {0, NULL, NULL};

typedef void *wasm_rt_externref_t;
static const wasm_rt_externref_t wasm_rt_externref_null_value = NULL;

typedef struct {
    /* The fields wasm2c reads; data never moves for the life of the memory. */
    uint8_t *data;
    uint32_t pages, max_pages;
    uint32_t size;
    /* weft: the pool slot behind data, and the instance's limit in pages (a grow past
     * it traps with "memory limit exceeded"). */
    void *weft_slot;
    uint32_t weft_limit_pages;
} wasm_rt_memory_t;

typedef struct {
    wasm_rt_funcref_t *data;
    uint32_t max_size;
    uint32_t size;
} wasm_rt_funcref_table_t;

typedef struct {
    wasm_rt_externref_t *data;
    uint32_t max_size;
    uint32_t size;
} wasm_rt_externref_table_t;

void wasm_rt_init(void);
bool wasm_rt_is_initialized(void);
void wasm_rt_free(void);

/* Unwinds to the innermost weft_instance_* call on this thread. */
WASM_RT_NO_RETURN void wasm_rt_trap(wasm_rt_trap_t);
const char *wasm_rt_strerror(wasm_rt_trap_t trap);

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...);
uint32_t wasm_rt_register_tag(uint32_t size);
void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void *values);
WASM_RT_NO_RETURN void wasm_rt_throw(void);

#define WASM_RT_UNWIND_TARGET jmp_buf
WASM_RT_UNWIND_TARGET *wasm_rt_get_unwind_target(void);
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET *target);
uint32_t wasm_rt_exception_tag(void);
uint32_t wasm_rt_exception_size(void);
void *wasm_rt_exception(void);

#define WASM_RT_SETJMP(buf) sigsetjmp(buf, 1)
#define wasm_rt_try(target) WASM_RT_SETJMP(target)

void wasm_rt_allocate_memory(wasm_rt_memory_t *, uint32_t initial_pages, uint32_t max_pages);
uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *, uint32_t pages);
void wasm_rt_free_memory(wasm_rt_memory_t *);

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *, uint32_t elements,
                                    uint32_t max_elements);
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *);
void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *, uint32_t elements,
                                      uint32_t max_elements);
void wasm_rt_free_externref_table(wasm_rt_externref_table_t *);
uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *, uint32_t delta,
                                    wasm_rt_funcref_t init);
uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *, uint32_t delta,
                                      wasm_rt_externref_t init);

#ifdef __cplusplus
}
#endif

#endif /* WASM_RT_H_ */
