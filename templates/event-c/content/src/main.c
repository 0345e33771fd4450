/* {{project-name}}: a step of an event flow. The trigger "greet" delivers each event of
 * type greeting.request here in the CloudEvents HTTP binary mode: its attributes are
 * the variables HTTP_CE_ID, HTTP_CE_TYPE, HTTP_CE_SOURCE (and any other ce-* header),
 * its data is stdin. What it prints is the reply: ce-* headers make it an event, which
 * weft appends to the broker (without a ce-id it gets a fresh one). A reply must not
 * match the trigger's filter again, or it would loop until its TTL runs out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DATA (1 << 20)

static void refuse(const char *why) {
    /* A 4xx is not retried: the event is given up, and weft logs why. */
    printf("Status: 400 Bad Request\nContent-Type: text/plain\n\n%s\n", why);
}

int main(void) {
    static char data[MAX_DATA + 1];
    size_t n = fread(data, 1, MAX_DATA, stdin);
    data[n] = 0;
    const char *id = getenv("HTTP_CE_ID");
    const char *type = getenv("HTTP_CE_TYPE");
    const char *source = getenv("HTTP_CE_SOURCE");
    if (!id || !type || !source) {
        refuse("not a CloudEvent (no ce-id, ce-type or ce-source)");
        return 0;
    }
    const char *p = data;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    if (*p != '{' && *p != '[') {
        refuse("the event's data is not a JSON object or array");
        return 0;
    }
    printf("Content-Type: application/json\n");
    printf("ce-specversion: 1.0\n");
    printf("ce-type: greeting.reply\n");
    printf("ce-source: {{project-name}}\n");
    printf("ce-subject: %s\n\n", id);
    printf("{\"greeting\":\"Hello from {{project-name}}\",\"request\":%s}\n", p);
    return 0;
}
