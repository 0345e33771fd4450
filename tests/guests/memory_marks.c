/* Looks for what an earlier instance left in linear memory, then leaves marks of its own:
 *
 *   memory_marks LABEL    prints what it finds in three places, then writes
 *                         "mark of LABEL" into each of them
 *
 * The places: a static buffer in .bss (which has no data segment: only a fresh memory
 * makes it zero), the first page memory.grow adds, and the last of 16 grown pages (1 MiB
 * in, past the part of a pooled memory that is cleared with memset). Each line is
 * "PLACE: clean", or "PLACE: stale [TEXT]" with what an earlier tenant wrote there.
 * Every access goes through a volatile pointer: the compiler must neither assume .bss is
 * still zero nor drop stores that this instance never reads back. */
#include <stdio.h>
#include <string.h>

#define PAGE 65536u
#define GROWN_PAGES 16u
#define MARK_BYTES 64u

static char bss[MARK_BYTES];

/* Prints PLACE: clean|stale [...], then writes the mark. */
static void look_and_mark(const char *place, volatile char *p, const char *label) {
    char seen[MARK_BYTES];
    int clean = 1;
    for (unsigned i = 0; i < MARK_BYTES; i++) {
        seen[i] = p[i];
        if (seen[i])
            clean = 0;
    }
    seen[MARK_BYTES - 1] = 0;
    if (clean)
        printf("%s: clean\n", place);
    else
        printf("%s: stale [%s]\n", place, seen);
    char mark[MARK_BYTES];
    snprintf(mark, sizeof mark, "mark of %s", label);
    for (unsigned i = 0; i < MARK_BYTES; i++)
        p[i] = mark[i];
}

int main(int argc, char **argv) {
    const char *label = argc > 1 ? argv[1] : "?";
    look_and_mark("bss", (volatile char *)bss, label);
    size_t old = __builtin_wasm_memory_grow(0, GROWN_PAGES);
    if (old == (size_t)-1) {
        printf("memory.grow failed\n");
        return 1;
    }
    char *grown = (char *)(old * PAGE);
    look_and_mark("grown first page", (volatile char *)grown, label);
    look_and_mark("grown last page", (volatile char *)(grown + (GROWN_PAGES - 1) * PAGE), label);
    return 0;
}
