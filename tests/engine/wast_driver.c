/* engine: the program tests/engine/wast.py runs the WebAssembly semantics set through.
 *
 *   driver_engine_wast TIER CACHE_DIR MODULE.wasm [SECONDS] < CALLS
 *
 * compiles MODULE.wasm in TIER ("fast" or "opt") into CACHE_DIR through the engine's one
 * pipeline (as `weft run` does), instantiates it once and calls its exports in that one
 * instance, one call per line of CALLS, so that state (memory, globals, tables) carries
 * from one call to the next as it does between the commands of a .wast script. A line is
 * "EXPORT BITS..." with each argument as the hex bits of its value (i32 and f32 in the
 * low 32 bits); for each the driver prints one line: "ok BITS..." (the results, as hex
 * bits, so NaN payloads and -0 survive), "trap KIND" (weft's text for the trap kind, as
 * `weft run` prints it) or "error MESSAGE". The instance's calls together may take
 * SECONDS (default 60), after which each traps "deadline exceeded": a guest that spins
 * fails the test instead of hanging it. Exit status 0 once every line is answered; 2
 * when the module cannot be compiled, loaded or instantiated (the message on stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#define MAX_VALUES 16

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "fast") && strcmp(argv[1], "opt"))) {
        fprintf(stderr,
                "usage: driver_engine_wast fast|opt CACHE_DIR MODULE.wasm [SECONDS] < CALLS\n");
        return 2;
    }
    weft_compile_opts_t opts = {.cache_dir = argv[2],
                                .quiet = true,
                                .tier = !strcmp(argv[1], "fast") ? WEFT_TIER_FAST : WEFT_TIER_OPT};
    weft_error_t err = {0};
    weft_module_t *m = NULL;
    if (weft_module_load(argv[3], &opts, &m, &err)) {
        fprintf(stderr, "driver_engine_wast: %s\n", err.msg);
        return 2;
    }
    weft_guest_t guest = {0};
    weft_instance_t *in = NULL;
    weft_outcome_t out = {0};
    weft_limits_t limits = {.timeout_ns =
                                (argc == 5 ? strtoull(argv[4], NULL, 10) : 60) * 1000000000ull};
    if (weft_instance_new(m, &guest, &limits, &in, &out, &err) || !in) {
        fprintf(stderr, "driver_engine_wast: %s: cannot instantiate: %s\n", argv[3],
                in ? err.msg : weft_outcome_trap_text(&out));
        weft_module_release(m);
        return 2;
    }
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        char *save = NULL, *name = strtok_r(line, " \n", &save);
        if (!name)
            continue;
        weft_value_t args[MAX_VALUES] = {0}, results[MAX_VALUES] = {0};
        size_t nargs = 0;
        for (char *tok; (tok = strtok_r(NULL, " \n", &save)) && nargs < MAX_VALUES;)
            args[nargs++] = strtoull(tok, NULL, 16);
        const char *sig = weft_module_export_sig(m, name);
        const char *colon = sig ? strchr(sig, ':') : NULL;
        if (!colon || (size_t)(colon - sig) != nargs || strlen(colon + 1) > MAX_VALUES) {
            printf("error no export %s taking %zu numbers (its type: %s)\n", name, nargs,
                   sig ? sig : "none");
            fflush(stdout);
            continue;
        }
        memset(&out, 0, sizeof out);
        if (weft_instance_invoke(in, name, args, results, &out, &err)) {
            printf("error %s\n", err.msg);
        } else if (out.kind == WEFT_OUTCOME_TRAPPED) {
            printf("trap %s\n", weft_outcome_trap_text(&out));
        } else if (out.kind == WEFT_OUTCOME_EXITED) {
            printf("error exited %" PRIu32 "\n", out.exit_code);
        } else {
            printf("ok");
            const char *r = colon + 1;
            for (size_t i = 0; r[i]; i++)
                printf(" %" PRIx64,
                       r[i] == 'i' || r[i] == 'f' ? results[i] & 0xffffffffu : results[i]);
            printf("\n");
        }
        fflush(stdout);
    }
    weft_instance_free(in);
    weft_module_release(m);
    return 0;
}
