/* The services benchmark's key-value reader (bench/services/run.sh): a CGI handler that
 * opens the store "default", reads the key "greeting" and answers with its value. A
 * fresh instance per request, as every weft request. */
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

int main(void) {
    weft_kv_t store;
    char *value = NULL;
    size_t len = 0;
    weft_error_t e = weft_kv_open("default", &store);
    if (!e)
        e = weft_kv_get(store, "greeting", &value, &len);
    if (e) {
        printf("Status: 500\nContent-Type: text/plain\n\n%s\n", weft_error_text(e));
        return 0;
    }
    printf("Content-Type: text/plain\n\n%s", value);
    free(value);
    return 0;
}
