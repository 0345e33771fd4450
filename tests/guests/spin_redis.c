// guest-flags: -mexec-model=reactor
/* A Spin 1 Redis handler written against the canonical ABI by hand (no generated
 * bindings): the export handle-redis-message(payload_ptr, payload_len) -> ret_ptr of
 * fermyon/spin's wit/ephemeral/spin-redis.wit, and canonical_abi_realloc and _free
 * (invoke/spin_redis.c). The answer is expected<_, error> at ret_ptr: the case u8 @0
 * (0 ok, 1 err), the error u8 @1 (0 success, 1 error). The payload picks what it does:
 *   fail      err(error)
 *   success   err(success), which Spin counts as handled
 *   trap      traps
 *   badret    a return record out of memory
 *   anything  prints "spin-redis got [PAYLOAD] (N bytes)" on stdout, answers ok(())
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((export_name("canonical_abi_realloc"))) void *
canonical_abi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    if (new_size == 0)
        return (void *)align;
    void *p = realloc(ptr, new_size);
    if (!p)
        abort();
    return p;
}

__attribute__((export_name("canonical_abi_free"))) void canonical_abi_free(void *ptr, size_t size,
                                                                           size_t align) {
    (void)align;
    if (size)
        free(ptr);
}

static uint8_t answer[2];

static int is(const char *p, size_t n, const char *word) {
    return n == strlen(word) && !memcmp(p, word, n);
}

__attribute__((export_name("handle-redis-message"))) uint8_t *handle(const char *p, size_t n) {
    answer[0] = 0;
    answer[1] = 0;
    if (is(p, n, "fail")) {
        answer[0] = 1;
        answer[1] = 1;
    } else if (is(p, n, "success")) {
        answer[0] = 1;
        answer[1] = 0;
    } else if (is(p, n, "trap")) {
        __builtin_trap();
    } else if (is(p, n, "badret")) {
        return (uint8_t *)(uintptr_t)0xfffffff0u;
    } else {
        printf("spin-redis got [%.*s] (%zu bytes)\n", (int)n, p, n);
        fflush(stdout);
    }
    if (n) /* an empty list's pointer is no allocation */
        free((void *)p);
    return answer;
}
