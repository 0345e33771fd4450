/* A guest with WAGI dynamic routes: _routes prints "<route> <entrypoint>" lines, and
 * each entry point answers with its own name. _start answers for the module's own
 * route. */
#include <stdio.h>

static void answer(const char *who) {
    printf("Content-Type: text/plain\n\n%s\n", who);
}

__attribute__((export_name("_routes"))) void routes(void) {
    printf("/hello _hello\n");
    printf("/wild/... _wild\n");
}

__attribute__((export_name("_hello"))) void hello(void) {
    answer("hello entry");
}

__attribute__((export_name("_wild"))) void wild(void) {
    answer("wild entry");
}

int main(void) {
    answer("main entry");
    return 0;
}
