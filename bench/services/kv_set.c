/* The services benchmark's key-value writer (bench/services/run.sh): sets the key
 * "greeting" of the store "default" to "Hello, world!\n" (durable when the call returns)
 * and answers with what it wrote. */
#include <stdio.h>
#include <string.h>

#include "weft.h"

int main(void) {
    static const char greeting[] = "Hello, world!\n";
    weft_kv_t store;
    weft_error_t e = weft_kv_open("default", &store);
    if (!e)
        e = weft_kv_set(store, "greeting", greeting, strlen(greeting), 0);
    if (e) {
        printf("Status: 500\nContent-Type: text/plain\n\n%s\n", weft_error_text(e));
        return 0;
    }
    printf("Content-Type: text/plain\n\n%s", greeting);
    return 0;
}
