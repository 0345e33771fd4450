/* memory: linear memories for guests, from a pool of guard-page reservations.
 *
 * Each memory is one reservation of WEFT_RESERVATION_BYTES of address space: every
 * address that a 32-bit index plus a 32-bit static offset can form falls inside it, so
 * the generated code does no bounds checks and an out-of-bounds access faults on a
 * PROT_NONE page (runtime.c turns that into a trap). Only the first `size` bytes are
 * readable and writable.
 *
 * Creating and destroying 8 GiB mappings costs system calls and page-table work on
 * every instantiation, so freed reservations go back to a pool: the used bytes are
 * zeroed (memset for the first WEFT_POOL_MEMSET_BYTES, where pages are likely hot,
 * MADV_DONTNEED beyond) and the next instance with the same size reuses the slot with no
 * system call at all. The pool keeps at most WEFT_POOL_MAX_FREE free slots, so address
 * space stays flat however many instances come and go.
 *
 * Each thread keeps the last slot it freed for its next instance: that slot's pages
 * are in the caches of the core the thread ran on (zeroing a slot that last ran on
 * another core costs several times more), and taking it needs no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine_internal.h"

#define WEFT_PAGE_BYTES 65536u
/* 4 GiB of index + 4 GiB of static offset + the widest access, rounded up. */
#define WEFT_RESERVATION_BYTES ((8ull << 30) + (64u << 10))
#define WEFT_POOL_MAX_FREE 64
#define WEFT_POOL_MEMSET_BYTES (256u << 10)

typedef struct slot {
    uint8_t *base;
    size_t accessible; /* bytes currently PROT_READ|PROT_WRITE from base */
    struct slot *next;
} slot_t;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t *free_slots;
/* Counters are atomic so that the thread-local fast path takes no lock; free_slots
 * and the decision to keep or unmap a slot are under pool_lock. */
static atomic_size_t nfree, nreserved, ninuse;
static atomic_uint_fast64_t nreused;

/* The pool's figures in util.h's metrics registry, read at each scrape. */
static uint64_t read_in_use(void) {
    return atomic_load(&ninuse);
}
static uint64_t read_pooled(void) {
    return atomic_load(&nfree);
}
static uint64_t read_reused(void) {
    return atomic_load(&nreused);
}
static weft_metric_t m_in_use = {.name = "weft_guest_memories_in_use",
                                 .help = "Linear memories in use: guest instances live",
                                 .type = WEFT_METRIC_GAUGE,
                                 .read = read_in_use};
static weft_metric_t m_pooled = {.name = "weft_guest_memories_pooled",
                                 .help = "Free guard-page reservations kept for the next instances",
                                 .type = WEFT_METRIC_GAUGE,
                                 .read = read_pooled};
static weft_metric_t m_reused = {.name = "weft_guest_memories_reused_total",
                                 .help = "Linear memories served from the pool",
                                 .type = WEFT_METRIC_COUNTER,
                                 .read = read_reused};
static atomic_bool metrics_listed;

/* Once, at the first memory made. */
static void metrics_list(void) {
    if (atomic_load_explicit(&metrics_listed, memory_order_relaxed))
        return;
    weft_metric_register(&m_in_use);
    weft_metric_register(&m_pooled);
    weft_metric_register(&m_reused);
    atomic_store(&metrics_listed, true);
}

void weft_pool_stats(weft_pool_stats_t *s) {
    s->reserved = atomic_load(&nreserved);
    s->in_use = atomic_load(&ninuse);
    s->reused = atomic_load(&nreused);
}

static __thread slot_t *thread_slot;

static slot_t *slot_get(void) {
    slot_t *mine = thread_slot;
    if (mine) {
        thread_slot = NULL;
        nfree--;
        nreused++;
        ninuse++;
        return mine;
    }
    pthread_mutex_lock(&pool_lock);
    slot_t *s = free_slots;
    if (s) {
        free_slots = s->next;
        nfree--;
        nreused++;
        ninuse++;
    }
    pthread_mutex_unlock(&pool_lock);
    if (s)
        return s;
    metrics_list();
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    void *p = mmap(NULL, WEFT_RESERVATION_BYTES, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        free(s);
        return NULL;
    }
    s->base = p;
    pthread_mutex_lock(&pool_lock);
    nreserved++;
    ninuse++;
    pthread_mutex_unlock(&pool_lock);
    return s;
}

static void slot_put(slot_t *s, size_t used) {
    /* Zero what the guest could have written, so the next tenant sees a fresh memory. */
    size_t head = used < WEFT_POOL_MEMSET_BYTES ? used : WEFT_POOL_MEMSET_BYTES;
    memset(s->base, 0, head);
    if (used > head)
        madvise(s->base + head, used - head, MADV_DONTNEED);
    ninuse--;
    if (!thread_slot) {
        thread_slot = s;
        nfree++;
        return;
    }
    pthread_mutex_lock(&pool_lock);
    if (nfree < WEFT_POOL_MAX_FREE) {
        s->next = free_slots;
        free_slots = s;
        nfree++;
        s = NULL;
    } else {
        nreserved--;
    }
    pthread_mutex_unlock(&pool_lock);
    if (s) {
        munmap(s->base, WEFT_RESERVATION_BYTES);
        free(s);
    }
}

/* Makes exactly [0, bytes) of the slot accessible. */
static int slot_resize(slot_t *s, size_t bytes) {
    if (bytes > s->accessible) {
        if (mprotect(s->base + s->accessible, bytes - s->accessible, PROT_READ | PROT_WRITE))
            return -1;
    } else if (bytes < s->accessible) {
        if (mprotect(s->base + bytes, s->accessible - bytes, PROT_NONE))
            return -1;
    }
    s->accessible = bytes;
    return 0;
}

void weft_memory_thread_exit(void) {
    slot_t *s = thread_slot;
    if (!s)
        return;
    thread_slot = NULL;
    pthread_mutex_lock(&pool_lock);
    if (nfree <= WEFT_POOL_MAX_FREE) {
        s->next = free_slots;
        free_slots = s;
        s = NULL;
    } else {
        nfree--;
        nreserved--;
    }
    pthread_mutex_unlock(&pool_lock);
    if (s) {
        munmap(s->base, WEFT_RESERVATION_BYTES);
        free(s);
    }
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *mem, uint32_t initial_pages, uint32_t max_pages) {
    uint32_t limit = weft_rt_limit_pages();
    if (max_pages > 65536)
        max_pages = 65536;
    if (limit == 0 || limit > max_pages)
        limit = max_pages;
    memset(mem, 0, sizeof *mem);
    if (initial_pages > limit)
        wasm_rt_trap(WASM_RT_TRAP_MEMORY_LIMIT);
    slot_t *s = slot_get();
    if (!s)
        wasm_rt_trap(WASM_RT_TRAP_MEMORY_LIMIT);
    size_t bytes = (size_t)initial_pages * WEFT_PAGE_BYTES;
    if (slot_resize(s, bytes)) {
        slot_put(s, 0);
        wasm_rt_trap(WASM_RT_TRAP_MEMORY_LIMIT);
    }
    mem->data = s->base;
    mem->pages = initial_pages;
    mem->max_pages = max_pages;
    mem->size = (uint32_t)(bytes > UINT32_MAX ? UINT32_MAX : bytes);
    mem->weft_slot = s;
    mem->weft_limit_pages = limit;
    weft_memory_make_current(mem);
}

void weft_memory_make_current(const wasm_rt_memory_t *mem) {
    const slot_t *s = mem->weft_slot;
    if (s)
        weft_rt_set_memory_range((uintptr_t)s->base, (uintptr_t)s->base + WEFT_RESERVATION_BYTES);
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *mem, uint32_t delta) {
    uint32_t old = mem->pages;
    uint64_t want = (uint64_t)old + delta;
    if (want > mem->max_pages)
        return UINT32_MAX;
    /* Growing past the instance's limit is a trap, not a -1: a guest over its budget
     * fails its own call with a message that says so. */
    if (want > mem->weft_limit_pages)
        wasm_rt_trap(WASM_RT_TRAP_MEMORY_LIMIT);
    if (delta == 0)
        return old;
    slot_t *s = mem->weft_slot;
    size_t bytes = (size_t)want * WEFT_PAGE_BYTES;
    if (slot_resize(s, bytes))
        return UINT32_MAX;
    mem->pages = (uint32_t)want;
    /* 65536 pages is exactly 4 GiB, one more than a u32 holds. */
    mem->size = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
    return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t *mem) {
    slot_t *s = mem->weft_slot;
    if (!s)
        return;
    slot_put(s, s->accessible);
    memset(mem, 0, sizeof *mem);
}
