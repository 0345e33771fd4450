/* crash: one line in the log when weft itself dies of a fatal signal.
 *
 * A server that runs untrusted code must say why it stopped. When a fatal signal
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS) reaches the process and
 * nobody above us turned it into a guest trap (the engine's fault handler chains here
 * for faults that are not the guest's), this handler writes
 *
 *   weft: fatal signal SIGSEGV (address 0x10, pc 0x55...) in a worker thread (tid 1234)
 *         running /route #42; weft stops
 *
 * with nothing but write(2) and stack buffers (it is async-signal-safe), then passes
 * the signal on: to the handler that was there before (a sanitizer's report), else to
 * the default action, so that the process still dies of that signal and a core dump
 * is still written where the system allows one.
 *
 * What a thread is and what it runs come from two thread-local slots that the layers
 * above fill in (weft_crash_thread, weft_crash_task); they are plain stores, cheap
 * enough for every request.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

static struct sigaction previous[NFATAL];
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;

static __thread const char *thread_role;
static __thread const char *task_what;
static __thread uint64_t task_id;

void weft_crash_thread(const char *role) {
    thread_role = role;
    /* Also the thread's name in ps -L, top -H and /proc/PID/task/TID/comm ("weft I/O"),
     * except the main thread's, which is the process's name (pidof weft). */
    if ((pid_t)syscall(SYS_gettid) != getpid()) {
        char name[16];
        snprintf(name, sizeof name, "weft %s", role);
        pthread_setname_np(pthread_self(), name);
    }
}

void weft_crash_task(const char *what, uint64_t id) {
    task_what = what;
    task_id = id;
}

/* A line being built in a stack buffer; what does not fit is cut. */
typedef struct line {
    char b[512];
    size_t n;
} line_t;

static void put(line_t *l, const char *s) {
    while (*s && l->n < sizeof l->b - 1)
        l->b[l->n++] = *s++;
}

static void put_num(line_t *l, uint64_t v, unsigned base) {
    char digits[24];
    size_t k = 0;
    do {
        digits[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (base == 16)
        put(l, "0x");
    while (k && l->n < sizeof l->b - 1)
        l->b[l->n++] = digits[--k];
}

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGSYS:
        return "SIGSYS";
    default:
        return "a fatal signal";
    }
}

static void report(int sig, const siginfo_t *si) {
    line_t l = {.n = 0};
    put(&l, "weft: fatal signal ");
    put(&l, signal_name(sig));
    if (si && si->si_code <= 0 && si->si_pid == getpid()) {
        put(&l, " (raised by weft itself)"); /* abort(3), an assertion */
    } else if (si && si->si_code <= 0) {
        /* Sent, not caused: kill(2) or tgkill(2) from another process. */
        put(&l, " (sent by pid ");
        put_num(&l, (uint64_t)(unsigned)si->si_pid, 10);
        put(&l, ")");
    } else if (si && (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL)) {
        put(&l, " (address ");
        put_num(&l, (uint64_t)(uintptr_t)si->si_addr, 16);
        put(&l, ")");
    }
    put(&l, " in ");
    put(&l, thread_role ? thread_role : "an unnamed");
    put(&l, " thread (tid ");
    put_num(&l, (uint64_t)syscall(SYS_gettid), 10);
    put(&l, ")");
    if (task_what) {
        put(&l, " running ");
        put(&l, task_what);
        if (task_id) {
            put(&l, " #");
            put_num(&l, task_id, 10);
        }
    }
    put(&l, "; weft stops\n");
    if (l.b[l.n - 1] != '\n')
        l.b[l.n - 1] = '\n';
    ssize_t w = write(2, l.b, l.n);
    (void)w;
}

void weft_signal_chain(const struct sigaction *prev, int sig, siginfo_t *si, void *uctx) {
    if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        prev->sa_sigaction(sig, si, uctx);
        return;
    }
    if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL &&
        prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* The default action, with the signal's own status and core: restored here, the
     * signal raised again stays pending while this handler blocks it and is taken as
     * it returns (a fault caused by an instruction would also simply recur). */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_fatal(int sig, siginfo_t *si, void *uctx) {
    report(sig, si);
    for (size_t i = 0; i < NFATAL; i++)
        if (fatal_signals[i] == sig)
            weft_signal_chain(&previous[i], sig, si, uctx);
}

static void install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    /* On the thread's alternate stack where it has one (the engine gives every thread
     * that runs guests one), so that a stack overflow can still be reported. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFATAL; i++)
        sigaction(fatal_signals[i], &sa, &previous[i]);
}

void weft_crash_init(void) {
    pthread_once(&crash_once, install);
}
