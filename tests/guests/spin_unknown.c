/* A command importing a Spin 1 interface weft provides (spin-config.get-config) and one
 * it does not (spin-config.nope): refused unless unknown imports are allowed. Prints
 * "ok"; with the argument "config", also what get-config answered for "greeting" (the
 * plain run has no configuration: an error); with "nope", calls the unknown import. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((import_module("spin-config"), import_name("get-config"))) void
spin_get_config(int32_t key, int32_t key_len, int32_t ret);
__attribute__((import_module("spin-config"), import_name("nope"))) int32_t nope(int32_t x);

__attribute__((export_name("canonical_abi_realloc"))) void *
canonical_abi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    (void)align;
    return realloc(ptr, new_size ? new_size : 1);
}

static uint8_t ret[16] __attribute__((aligned(4)));

int main(int argc, char **argv) {
    printf("ok\n");
    if (argc > 1 && !strcmp(argv[1], "config")) {
        spin_get_config((int32_t)(uintptr_t) "greeting", 8, (int32_t)(uintptr_t)ret);
        uint32_t p, n;
        memcpy(&p, ret + 8, 4);
        memcpy(&n, ret + 12, 4);
        printf("tag %u case %u: %.*s\n", ret[0], ret[4], (int)n, (const char *)(uintptr_t)p);
    }
    if (argc > 1 && !strcmp(argv[1], "nope"))
        printf("%d\n", nope(1));
    return 0;
}
