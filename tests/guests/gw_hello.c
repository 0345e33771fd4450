/* The smallest CGI handler: what a WAGI hello-world module prints. */
#include <stdio.h>

int main(void) {
    printf("Content-Type: text/plain\n\nhello from weft\n");
    return 0;
}
