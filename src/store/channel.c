/* channel: subscriptions to Redis channels (store.h, "Channels"): the plugin that holds
 * hiredis is loaded here, when and only when a subscription is made, as kv.c loads it
 * for a Redis key-value store. */
#include <string.h>

#include "internal.h"

struct weft_channel_sub; /* the plugin's */

/* Which plugin made a subscription, so that unsubscribe reaches the same one: the plugin
 * is loaded once and never unloaded, so the pointer lives as long as weft. */
static const weft_dist_plugin_t *_Atomic plugin;

int weft_channel_subscribe(const char *location, const char *const *channels, size_t n,
                           weft_channel_fn fn, void *arg, weft_channel_sub_t **out,
                           weft_error_t *err) {
    *out = NULL;
    if (!location || (strncmp(location, "redis://", 8) && strncmp(location, "redis+unix://", 13)))
        return weft_error_set(err, WEFT_EINVAL,
                              "%.200s: channels are Redis's: a redis:// or redis+unix:// location",
                              location ? location : "(none)");
    if (!n)
        return weft_error_set(err, WEFT_EINVAL, "no channel to subscribe to");
    for (size_t i = 0; i < n; i++)
        if (!channels[i] || !*channels[i])
            return weft_error_set(err, WEFT_EINVAL, "an empty channel name");
    const weft_dist_plugin_t *dist = NULL;
    size_t scheme_len = 0;
    int rc = store_dist("channel", location, &dist, &scheme_len, err);
    if (rc < 0)
        return rc;
    if (rc == 0 || !dist->subscribe)
        return weft_error_set(err, WEFT_EUNSUPPORTED, "weft-dist.so has no channels");
    plugin = dist;
    return dist->subscribe(location, channels, n, fn, arg, out, err);
}

void weft_channel_unsubscribe(weft_channel_sub_t *sub) {
    if (sub)
        plugin->unsubscribe(sub);
}
