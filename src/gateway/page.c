/* page: the live event page of a broker (GET /brokers/NAME), page.html embedded at build
 * time. The page holds nothing of the broker: it reads the broker's name from its own
 * address and follows /brokers/NAME/events, so one constant serves every broker. */
#include "internal.h"

/* weft_embedded_page_html, generated from page.html by scripts/embed.cmake. */
#include "embedded_page.h"

const char *weft_gateway_page(size_t *len) {
    *len = sizeof weft_embedded_page_html - 1;
    return weft_embedded_page_html;
}
