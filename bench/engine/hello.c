/* The smallest useful guest: one line on stdout. Used to measure instantiation and
 * `weft run` start-up, where the guest's own work should be negligible. */
#include <stdio.h>

int main(void) {
    puts("hello from weft");
    return 0;
}
