/* runtime: weft's implementation of wasm-rt.h, the half of wasm2c that the embedder
 * supplies, and the trap boundary around every call into guest code.
 *
 * Why not Debian's libwasm-rt-impl.a: it keeps the unwind target in a global (one
 * guest at a time per process) and its wasm_rt_free_memory unmaps only the committed
 * part of each 8 GiB reservation, so address space leaks with every instance. Here:
 *
 * - Traps unwind with siglongjmp to a per-thread target. Faults are caught on a
 *   per-thread alternate signal stack, so a guest that overflows its call stack can
 *   still be stopped.
 * - A fault is a trap only when the faulting instruction is in the running module's
 *   code and the address is in its memory reservation (out of bounds), or when the
 *   address is at the thread's stack guard (call stack exhausted). Any other fault is a
 *   bug in weft and is passed on to the previous handler (a crash, or the sanitizer's
 *   report). Host functions do not run into the stack guard: every call of one from
 *   guest code first checks that WEFT_HOST_STACK_RESERVE is left (weft_rt_host_call),
 *   so the stack runs out in the guest's frames, or in the runtime's small leaf helpers
 *   (memory.grow, memory.copy), never half-way through a host function holding a lock.
 * - Deadlines are watched by one thread for the whole process, which wakes every
 *   WEFT_WATCHDOG_TICK_NS while some guest has a deadline and sends
 *   WEFT_DEADLINE_SIGNAL to each thread whose guest is past its own. Starting or ending
 *   a call costs an atomic store, no system call (a timer per thread cost two per
 *   instance, which at tens of thousands of instances a second was a tenth of the
 *   time). A deadline is therefore caught up to a tick late. The handler unwinds only
 *   when the thread is executing the module's own code; in host code it does nothing,
 *   and the watchdog signals again WEFT_DEADLINE_RETRY_NS later, so host code is never
 *   unwound in the middle of holding a lock or an allocation.
 * - The deadline signal can never pile up on a thread, however the threads are
 *   scheduled: it is a standard signal (a second one sent while one is pending is
 *   merged with it, where a real-time signal would queue), the watchdog sends no other
 *   while the last one has not been taken (sig_pending, cleared by the handler), and no
 *   handler runs with SA_NODEFER, so none nests on itself on the 64 KiB alternate
 *   stack. (With a queued real-time signal, SA_NODEFER and a resend every 2 ms, a
 *   thread that lost its core for 40 ms took 20 nested handlers at once and overflowed
 *   that stack: the whole server died of one looping guest.)
 * - Handlers that leave by siglongjmp unblock the signals the kernel blocked for them
 *   first (one system call, on the trap path only): trap boundaries do not save the
 *   signal mask, as that would be a system call on every call.
 * - Linear memories come from memory.c's pool of guard-page reservations.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine_internal.h"

/* SIGURG: a standard signal, so it does not queue, and one nothing else in weft uses
 * (the kernel sends it only for out-of-band data on a socket whose owner was set with
 * F_SETOWN, which weft never does; Go's runtime preempts goroutines with it for the
 * same reasons). A stray one is harmless: the handler acts only on a past deadline. */
#define WEFT_DEADLINE_SIGNAL SIGURG
/* How often the watchdog looks at the deadlines while there are some. */
#define WEFT_WATCHDOG_TICK_NS 1000000ull
/* How long it goes on ticking after the last deadline, before it sleeps until the
 * next one (so that a busy server does not wake it for every request). */
#define WEFT_WATCHDOG_LINGER_TICKS 100u
/* How often a thread past its deadline is signalled again while it is in host code. */
#define WEFT_DEADLINE_RETRY_NS 2000000ull
/* Faults this far below the lowest address of the thread's stack are overflows. */
#define WEFT_STACK_GUARD_SLACK (2u << 20)
#define WEFT_ALTSTACK_BYTES (64u << 10)
/* Native stack kept for host functions: a guest with less left traps as it calls one
 * (weft_rt_host_call). Outbound HTTP (libcurl, OpenSSL) is the hungriest host code. */
#define WEFT_HOST_STACK_RESERVE (256u << 10)
/* Unwind code for proc_exit; trap codes are small. */
#define WEFT_UNWIND_EXIT 0x10000

typedef struct thread_state {
    bool ready;
    sigjmp_buf *jmp;                /* innermost trap boundary, NULL outside guests */
    volatile sig_atomic_t in_guest; /* a trap boundary is active on this thread */
    uintptr_t code_lo, code_hi;     /* text of the module running now */
    uintptr_t mem_lo, mem_hi;       /* reservation of its memory (set by memory.c) */
    uintptr_t stack_lo, stack_hi;
    uint64_t deadline_ns; /* 0: none */
    volatile sig_atomic_t deadline_hit;
    /* What the watchdog sees (under wd_lock, except watch_at). */
    _Atomic uint64_t watch_at; /* the deadline it watches for; 0: none */
    uint64_t signalled_at;     /* watch_at when it last signalled, and when */
    uint64_t signalled_ns;
    _Atomic bool sig_pending; /* sent by the watchdog, not yet taken */
    pthread_t self;
    struct thread_state *wd_prev, *wd_next;
    uint32_t exit_code;
    uint32_t limit_pages;    /* for the memory being allocated now */
    uint8_t unknown_imports; /* weft_unknown_imports_t of the running call */
    const char *trap_detail; /* the message of the last weft_rt_unknown_import trap */
    void *altstack;
    bool watched; /* in the watchdog's list */
} thread_state_t;

static __thread thread_state_t ts;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static struct sigaction prev_segv, prev_bus, prev_fpe;
/* What the kernel may have blocked on entry to a handler that unwinds. */
static sigset_t handler_signals;
static pthread_key_t thread_key;
static atomic_bool rt_initialized;

void weft_rt_set_memory_range(uintptr_t lo, uintptr_t hi) {
    ts.mem_lo = lo;
    ts.mem_hi = hi;
}

uint32_t weft_rt_limit_pages(void) {
    return ts.limit_pages;
}

static uintptr_t context_pc(void *uctx) {
#if defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.pc;
#else
#error "weft's trap handler knows x86_64 and aarch64"
#endif
}

/* Leaves a signal handler for the innermost trap boundary. */
__attribute__((noreturn)) static void unwind_from_handler(int code) {
    pthread_sigmask(SIG_UNBLOCK, &handler_signals, NULL);
    siglongjmp(*ts.jmp, code);
}

static void on_fault(int sig, siginfo_t *si, void *uctx) {
    if (ts.in_guest && ts.jmp) {
        uintptr_t addr = (uintptr_t)si->si_addr;
        uintptr_t pc = context_pc(uctx);
        bool in_code = pc >= ts.code_lo && pc < ts.code_hi;
        if (sig == SIGSEGV && addr < ts.stack_lo + 4096 &&
            addr + WEFT_STACK_GUARD_SLACK >= ts.stack_lo)
            unwind_from_handler(WASM_RT_TRAP_EXHAUSTION);
        if (in_code && addr >= ts.mem_lo && addr < ts.mem_hi)
            unwind_from_handler(WASM_RT_TRAP_OOB);
        if (in_code && sig == SIGFPE)
            unwind_from_handler(si->si_code == FPE_INTDIV ? WASM_RT_TRAP_DIV_BY_ZERO
                                                          : WASM_RT_TRAP_INT_OVERFLOW);
    }
    const struct sigaction *prev = sig == SIGSEGV  ? &prev_segv
                                   : sig == SIGBUS ? &prev_bus
                                                   : &prev_fpe;
    weft_signal_chain(prev, sig, si, uctx);
}

/* ---- The deadline watchdog --------------------------------------------------------- */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_wake = PTHREAD_COND_INITIALIZER;
static thread_state_t *wd_threads; /* every thread that runs guests */
static atomic_bool wd_sleeping;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;

static void sleep_ns(uint64_t ns) {
    struct timespec t = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static void *watchdog_main(void *arg) {
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    weft_crash_thread("watchdog");
    unsigned quiet = 0;
    pthread_mutex_lock(&wd_lock);
    for (;;) {
        if (quiet >= WEFT_WATCHDOG_LINGER_TICKS) {
            /* Sleep, unless a deadline was set meanwhile: whoever sets one after
             * this store sees wd_sleeping and wakes us (both are seq_cst). */
            atomic_store(&wd_sleeping, true);
            bool any = false;
            for (thread_state_t *t = wd_threads; t && !any; t = t->wd_next)
                any = atomic_load(&t->watch_at) != 0;
            if (!any)
                pthread_cond_wait(&wd_wake, &wd_lock);
            atomic_store(&wd_sleeping, false);
            quiet = 0;
        }
        pthread_mutex_unlock(&wd_lock);
        sleep_ns(WEFT_WATCHDOG_TICK_NS);
        pthread_mutex_lock(&wd_lock);
        uint64_t now = weft_now_ns();
        bool any = false;
        for (thread_state_t *t = wd_threads; t; t = t->wd_next) {
            uint64_t at = atomic_load_explicit(&t->watch_at, memory_order_acquire);
            if (!at)
                continue;
            any = true;
            if (now < at)
                continue;
            if (t->signalled_at == at && now - t->signalled_ns < WEFT_DEADLINE_RETRY_NS)
                continue;
            /* One in flight at a time: the next only once the handler took this one. */
            if (atomic_exchange(&t->sig_pending, true))
                continue;
            t->signalled_at = at;
            t->signalled_ns = now;
            pthread_kill(t->self, WEFT_DEADLINE_SIGNAL);
        }
        quiet = any ? 0 : quiet + 1;
    }
    return NULL;
}

static void watchdog_start(void) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64u << 10);
    if (pthread_create(&t, &attr, watchdog_main, NULL) != 0) {
        fprintf(stderr, "weft: cannot start the deadline watchdog thread\n");
        abort();
    }
    pthread_attr_destroy(&attr);
}

/* Sets (or with 0 clears) the deadline the watchdog watches this thread for. */
static void watch(uint64_t deadline_ns) {
    atomic_store(&ts.watch_at, deadline_ns);
    if (deadline_ns && atomic_load(&wd_sleeping)) {
        pthread_mutex_lock(&wd_lock);
        pthread_cond_signal(&wd_wake);
        pthread_mutex_unlock(&wd_lock);
    }
}

static void on_deadline(int sig, siginfo_t *si, void *uctx) {
    (void)sig;
    (void)si;
    atomic_store(&ts.sig_pending, false);
    if (!ts.in_guest || !ts.jmp || !ts.deadline_ns)
        return;
    if (weft_now_ns() < ts.deadline_ns)
        return;
    ts.deadline_hit = 1;
    uintptr_t pc = context_pc(uctx);
    if (pc >= ts.code_lo && pc < ts.code_hi)
        unwind_from_handler(WASM_RT_TRAP_DEADLINE);
}

static void thread_state_destroy(void *arg) {
    (void)arg;
    weft_memory_thread_exit();
    if (ts.watched) {
        pthread_mutex_lock(&wd_lock);
        if (ts.wd_prev)
            ts.wd_prev->wd_next = ts.wd_next;
        else
            wd_threads = ts.wd_next;
        if (ts.wd_next)
            ts.wd_next->wd_prev = ts.wd_prev;
        pthread_mutex_unlock(&wd_lock);
        ts.watched = false;
    }
    if (ts.altstack) {
        stack_t ss = {.ss_flags = SS_DISABLE};
        sigaltstack(&ss, NULL);
        munmap(ts.altstack, WEFT_ALTSTACK_BYTES);
        ts.altstack = NULL;
    }
    ts.ready = false;
}

static void install_handlers(void) {
    /* Below ours: a fault that is not the guest's is reported, then kills. */
    weft_crash_init();
    sigemptyset(&handler_signals);
    sigaddset(&handler_signals, SIGSEGV);
    sigaddset(&handler_signals, SIGBUS);
    sigaddset(&handler_signals, SIGFPE);
    sigaddset(&handler_signals, WEFT_DEADLINE_SIGNAL);

    /* No SA_NODEFER: a second fault inside the handler is a bug in weft, which the
     * kernel then ends at once; and no deadline signal lands on top of a trap. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, WEFT_DEADLINE_SIGNAL);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
    sigaction(SIGFPE, &sa, &prev_fpe);

    /* No SA_RESTART: a guest blocked in a host call (read, poll) must see EINTR. No
     * SA_NODEFER: the signal stays blocked while its handler runs, so it never nests. */
    struct sigaction sd;
    memset(&sd, 0, sizeof sd);
    sd.sa_sigaction = on_deadline;
    sd.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sd.sa_mask);
    sigaction(WEFT_DEADLINE_SIGNAL, &sd, NULL);
    pthread_key_create(&thread_key, thread_state_destroy);
    atomic_store(&rt_initialized, true);
}

void wasm_rt_init(void) {
    pthread_once(&init_once, install_handlers);
}

bool wasm_rt_is_initialized(void) {
    return atomic_load(&rt_initialized);
}

void wasm_rt_free(void) {}

/* Prepares this thread to run guests: an alternate signal stack (a stack overflow
 * leaves no room for the handler on the normal one), the stack bounds that tell an
 * overflow from other faults, and the deadline timer. Done once per thread. */
static int thread_prepare(weft_error_t *err) {
    if (ts.ready)
        return 0;
    wasm_rt_init();
    ts.altstack =
        mmap(NULL, WEFT_ALTSTACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ts.altstack == MAP_FAILED) {
        ts.altstack = NULL;
        return weft_error_set(err, WEFT_ENOMEM, "cannot allocate a signal stack");
    }
    stack_t ss = {.ss_sp = ts.altstack, .ss_size = WEFT_ALTSTACK_BYTES, .ss_flags = 0};
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE) &&
        old.ss_size >= WEFT_ALTSTACK_BYTES) {
        /* Someone (a sanitizer runtime) already gave this thread one: keep it. */
        munmap(ts.altstack, WEFT_ALTSTACK_BYTES);
        ts.altstack = NULL;
    } else if (sigaltstack(&ss, NULL) != 0) {
        return weft_error_set(err, WEFT_EIO, "sigaltstack: %s", strerror(errno));
    }

    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            ts.stack_lo = (uintptr_t)addr;
            ts.stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }

    pthread_once(&wd_once, watchdog_start);
    ts.self = pthread_self();
    pthread_mutex_lock(&wd_lock);
    ts.wd_prev = NULL;
    ts.wd_next = wd_threads;
    if (wd_threads)
        wd_threads->wd_prev = &ts;
    wd_threads = &ts;
    ts.watched = true;
    pthread_mutex_unlock(&wd_lock);
    pthread_setspecific(thread_key, &ts);
    ts.ready = true;
    return 0;
}

void weft_rt_deadline_end(void) {
    if (atomic_load_explicit(&ts.watch_at, memory_order_relaxed))
        watch(0);
    ts.deadline_hit = 0;
}

bool weft_deadline_expired(void) {
    return ts.deadline_ns && (ts.deadline_hit || weft_now_ns() >= ts.deadline_ns);
}

/* A guest that exhausted the native stack touched all of it, and those pages would stay
 * in the thread's RSS for good (8 MiB a worker: ~100 MiB on the fault-mix soak). Gives
 * back what lies below the caller's frame, keeping a margin; they come back zeroed
 * when a guest goes deep again. */
static void release_stack(void) {
    uintptr_t page = 4096, margin = 64u << 10;
    uintptr_t lo = (ts.stack_lo + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)__builtin_frame_address(0) - margin) & ~(page - 1);
    if (ts.stack_lo && hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED); /* best effort */
}

int weft_rt_run(const weft_rt_call_t *call, weft_outcome_t *out, weft_error_t *err) {
    int rc = thread_prepare(err);
    if (rc)
        return rc;
    sigjmp_buf jb;
    sigjmp_buf *volatile outer = ts.jmp;
    memset(out, 0, sizeof *out);
    int code = sigsetjmp(jb, 0);
    if (code == 0) {
        ts.jmp = &jb;
        ts.code_lo = call->code_lo;
        ts.code_hi = call->code_hi;
        ts.limit_pages = call->limit_pages;
        ts.unknown_imports = call->unknown_imports;
        ts.deadline_ns = call->deadline_ns;
        /* The calls of one instance share its deadline: it is watched from the first
         * until the instance is freed (weft_rt_deadline_end). */
        if (call->deadline_ns &&
            atomic_load_explicit(&ts.watch_at, memory_order_relaxed) != call->deadline_ns) {
            ts.deadline_hit = 0;
            watch(call->deadline_ns);
        }
        ts.in_guest = 1;
        call->fn(call->arg);
        ts.in_guest = 0;
        out->kind = WEFT_OUTCOME_RETURNED;
    } else {
        ts.in_guest = 0;
        if (code == WEFT_UNWIND_EXIT) {
            out->kind = WEFT_OUTCOME_EXITED;
            out->exit_code = ts.exit_code;
        } else {
            out->kind = WEFT_OUTCOME_TRAPPED;
            out->trap = weft_rt_trap_kind((wasm_rt_trap_t)code);
            if (out->trap == WEFT_TRAP_EXHAUSTION)
                release_stack();
            if (out->trap == WEFT_TRAP_UNKNOWN_IMPORT)
                out->trap_detail = ts.trap_detail;
        }
    }
    if (call->deadline_ns) {
        /* A guest whose blocking host call was cut short by the deadline may finish
         * before the next tick catches it in its own code; it still ran out of time. */
        if (out->kind != WEFT_OUTCOME_TRAPPED && ts.deadline_hit) {
            out->kind = WEFT_OUTCOME_TRAPPED;
            out->trap = WEFT_TRAP_DEADLINE;
        }
    }
    ts.deadline_ns = 0;
    ts.jmp = outer;
    ts.mem_lo = ts.mem_hi = 0;
    return 0;
}

int weft_rt_nested(void (*fn)(void *arg), void *arg) {
    if (!ts.jmp || !ts.in_guest)
        return WASM_RT_TRAP_UNREACHABLE; /* not inside a guest call: a bug of the caller */
    sigjmp_buf jb;
    sigjmp_buf *volatile outer = ts.jmp;
    int code = sigsetjmp(jb, 0);
    if (code == 0) {
        ts.jmp = &jb;
        fn(arg);
    } else {
        /* The handlers that unwound left in_guest as it was: we are back in the host
         * function, still inside the outer guest call. */
        ts.in_guest = 1;
    }
    ts.jmp = outer;
    return code;
}

void weft_rt_unwind(int code) {
    if (!ts.jmp) {
        fprintf(stderr, "weft: unwind outside of a guest call\n");
        abort();
    }
    siglongjmp(*ts.jmp, code);
}

void weft_rt_host_call(void) {
    if (UNLIKELY((uintptr_t)__builtin_frame_address(0) < ts.stack_lo + WEFT_HOST_STACK_RESERVE))
        wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
}

void weft_rt_unknown_import(const char *message) {
    if (ts.unknown_imports == WEFT_UNKNOWN_IMPORTS_DEFAULT)
        return;
    /* Trap mode, and also refusal: a module with stubs is not loaded in that mode, so
     * reaching this is a bug, and a trap is the safe way out of it. */
    ts.trap_detail = message;
    wasm_rt_trap(WASM_RT_TRAP_UNKNOWN_IMPORT);
}

weft_trap_t weft_rt_trap_kind(wasm_rt_trap_t t) {
    switch (t) {
    case WASM_RT_TRAP_OOB:
        return WEFT_TRAP_OOB;
    case WASM_RT_TRAP_INT_OVERFLOW:
        return WEFT_TRAP_INT_OVERFLOW;
    case WASM_RT_TRAP_DIV_BY_ZERO:
        return WEFT_TRAP_DIV_BY_ZERO;
    case WASM_RT_TRAP_INVALID_CONVERSION:
        return WEFT_TRAP_INVALID_CONVERSION;
    case WASM_RT_TRAP_UNREACHABLE:
        return WEFT_TRAP_UNREACHABLE;
    case WASM_RT_TRAP_CALL_INDIRECT:
        return WEFT_TRAP_CALL_INDIRECT;
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION:
        return WEFT_TRAP_UNCAUGHT_EXCEPTION;
    case WASM_RT_TRAP_EXHAUSTION:
        return WEFT_TRAP_EXHAUSTION;
    case WASM_RT_TRAP_DEADLINE:
        return WEFT_TRAP_DEADLINE;
    case WASM_RT_TRAP_MEMORY_LIMIT:
        return WEFT_TRAP_MEMORY_LIMIT;
    case WASM_RT_TRAP_UNKNOWN_IMPORT:
        return WEFT_TRAP_UNKNOWN_IMPORT;
    default:
        return WEFT_TRAP_UNREACHABLE;
    }
}

void wasm_rt_trap(wasm_rt_trap_t code) {
    if (!ts.jmp) {
        fprintf(stderr, "weft: trap outside of a guest call: %s\n", wasm_rt_strerror(code));
        abort();
    }
    if (code == WASM_RT_TRAP_NONE)
        code = WASM_RT_TRAP_UNREACHABLE;
    siglongjmp(*ts.jmp, (int)code);
}

void weft_guest_exit(uint32_t code) {
    if (!ts.jmp) {
        fprintf(stderr, "weft: proc_exit outside of a guest call\n");
        abort();
    }
    ts.exit_code = code;
    siglongjmp(*ts.jmp, WEFT_UNWIND_EXIT);
}

const char *weft_trap_text(weft_trap_t trap) {
    switch (trap) {
#define WEFT_TRAP_TEXT_(name, text)                                                                \
    case WEFT_TRAP_##name:                                                                         \
        return text;
        WEFT_TRAPS(WEFT_TRAP_TEXT_)
#undef WEFT_TRAP_TEXT_
    }
    return "unknown trap";
}

const char *wasm_rt_strerror(wasm_rt_trap_t trap) {
    return weft_trap_text(weft_rt_trap_kind(trap));
}

/* ---- Function types ---------------------------------------------------------------
 * call_indirect compares type ids, so equal signatures must get equal ids across every
 * module in the process. Registered at module load, rarely: a mutex and a list. */

typedef struct functype {
    uint32_t params, results;
    wasm_rt_type_t *types;
} functype_t;

static pthread_mutex_t types_lock = PTHREAD_MUTEX_INITIALIZER;
static functype_t *types;
static uint32_t ntypes, types_cap;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
    uint32_t n = params + results;
    wasm_rt_type_t *sig = calloc(n ? n : 1, sizeof *sig);
    if (!sig)
        abort();
    va_list ap;
    va_start(ap, results);
    for (uint32_t i = 0; i < n; i++)
        sig[i] = (wasm_rt_type_t)va_arg(ap, int);
    va_end(ap);
    pthread_mutex_lock(&types_lock);
    uint32_t id;
    for (id = 0; id < ntypes; id++) {
        if (types[id].params == params && types[id].results == results &&
            (n == 0 || memcmp(types[id].types, sig, n * sizeof *sig) == 0))
            break;
    }
    if (id == ntypes) {
        if (ntypes == types_cap) {
            uint32_t cap = types_cap ? types_cap * 2 : 64;
            functype_t *t = realloc(types, cap * sizeof *t);
            if (!t)
                abort();
            types = t;
            types_cap = cap;
        }
        types[ntypes++] = (functype_t){params, results, sig};
        sig = NULL;
    }
    pthread_mutex_unlock(&types_lock);
    free(sig);
    /* Id 0 is the null funcref's type; real types start at 1. */
    return id + 1;
}

/* ---- Exceptions (wasm2c's exception handling is not enabled; kept for the ABI) ---- */

static __thread uint32_t exc_tag, exc_size;
static __thread uint8_t exc_data[256];
static atomic_uint next_tag;

uint32_t wasm_rt_register_tag(uint32_t size) {
    (void)size;
    return atomic_fetch_add(&next_tag, 1);
}

void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void *values) {
    if (size > sizeof exc_data)
        wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
    exc_tag = tag;
    exc_size = size;
    if (size)
        memcpy(exc_data, values, size);
}

void wasm_rt_throw(void) {
    wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}

WASM_RT_UNWIND_TARGET *wasm_rt_get_unwind_target(void) {
    return ts.jmp;
}

void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET *target) {
    ts.jmp = target;
}

uint32_t wasm_rt_exception_tag(void) {
    return exc_tag;
}

uint32_t wasm_rt_exception_size(void) {
    return exc_size;
}

void *wasm_rt_exception(void) {
    return exc_data;
}

/* ---- Tables ------------------------------------------------------------------------ */

#define WEFT_MAX_TABLE_ELEMENTS 10000000u

/* Allocates and frees a table of either kind; the two differ only in their types. */
#define WEFT_DEFINE_TABLE_ALLOC(alloc_name, free_name, table_t)                                    \
    void alloc_name(table_t *t, uint32_t elements, uint32_t max_elements) {                        \
        if (elements > WEFT_MAX_TABLE_ELEMENTS)                                                    \
            wasm_rt_trap(WASM_RT_TRAP_MEMORY_LIMIT);                                               \
        t->size = elements;                                                                        \
        t->max_size = max_elements;                                                                \
        t->data = elements ? calloc(elements, sizeof *t->data) : NULL;                             \
        if (elements && !t->data)                                                                  \
            wasm_rt_trap(WASM_RT_TRAP_MEMORY_LIMIT);                                               \
    }                                                                                              \
    void free_name(table_t *t) {                                                                   \
        free(t->data);                                                                             \
        t->data = NULL;                                                                            \
        t->size = 0;                                                                               \
    }
WEFT_DEFINE_TABLE_ALLOC(wasm_rt_allocate_funcref_table, wasm_rt_free_funcref_table,
                        wasm_rt_funcref_table_t)
WEFT_DEFINE_TABLE_ALLOC(wasm_rt_allocate_externref_table, wasm_rt_free_externref_table,
                        wasm_rt_externref_table_t)

/* Grows a table whose element type is T; the two table kinds differ only in T. */
#define WEFT_DEFINE_TABLE_GROW(name, table_t, elem_t)                                              \
    uint32_t name(table_t *t, uint32_t delta, elem_t init) {                                       \
        uint32_t old = t->size;                                                                    \
        uint64_t want = (uint64_t)old + delta;                                                     \
        if (want > t->max_size || want > WEFT_MAX_TABLE_ELEMENTS)                                  \
            return UINT32_MAX;                                                                     \
        if (delta == 0)                                                                            \
            return old;                                                                            \
        elem_t *d = realloc(t->data, (size_t)want * sizeof *d);                                    \
        if (!d)                                                                                    \
            return UINT32_MAX;                                                                     \
        for (uint64_t i = old; i < want; i++)                                                      \
            d[i] = init;                                                                           \
        t->data = d;                                                                               \
        t->size = (uint32_t)want;                                                                  \
        return old;                                                                                \
    }
WEFT_DEFINE_TABLE_GROW(wasm_rt_grow_funcref_table, wasm_rt_funcref_table_t, wasm_rt_funcref_t)
WEFT_DEFINE_TABLE_GROW(wasm_rt_grow_externref_table, wasm_rt_externref_table_t, wasm_rt_externref_t)
