/* events internals shared by its files; not part of the layer's contract. */
#ifndef WEFT_EVENTS_INTERNAL_H
#define WEFT_EVENTS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "../store/store.h"
#include "cesql.h"
#include "cloudevent.h"
#include "codec.h"
#include "delivery.h"
#include "events.h"

/* The extension that bounds reply loops (Knative's): set on ingest when absent, one
 * less on every reply; an event at 0 is not delivered. */
#define WEFT_EVENTS_TTL_NAME "knativebrokerttl"
#define WEFT_EVENTS_TTL_DEFAULT 255
/* How far past its position a trigger reads: events delivered out of order are
 * remembered in a window of this many, so that one event retrying for minutes holds
 * back at most this many of its trigger's (and no other trigger's). */
#define WEFT_TRIGGER_WINDOW 8192
/* Records read from the log at a time. */
#define WEFT_TRIGGER_PAGE 256
/* How often a trigger's position is written when it moves (at most). */
#define WEFT_TRIGGER_SAVE_NS (100ull * 1000000ull)
/* A shared trigger's wait for new events in one read (also how late it may acknowledge
 * what finished meanwhile), and how often it reads its group's position (describe). */
#define WEFT_TRIGGER_SHARED_BLOCK_MS 50
#define WEFT_TRIGGER_STATE_NS (1000ull * 1000000ull)
/* How often old, finished events are deleted (more often for a shorter retention, but
 * never more often than the second). */
#define WEFT_EVENTS_TRIM_NS (60ull * 1000000000ull)
#define WEFT_EVENTS_TRIM_MIN_NS (500ull * 1000000ull)
/* The longest response body kept in knativeerrordata (base64 characters). */
#define WEFT_EVENTS_ERRORDATA_MAX 1024

/* How often the reloader looks whether retired triggers' deliveries are finished. */
#define WEFT_EVENTS_RELOAD_POLL_NS (10 * 1000000L)
/* A tail's read: at most this many records, and no more once this many bytes are read
 * (at least one record). */
#define WEFT_EVENTS_TAIL_PAGE 1024
#define WEFT_EVENTS_TAIL_PAGE_BYTES (4u << 20)

/* The journal stream of the broker called name in the running configuration (alive
 * until weft_events_free), or NULL when it has no such broker (broker.c). */
weft_journal_stream_t *weft_events_stream(weft_events_t *ev, const char *name);

/* ---- Filters (filter.c) ------------------------------------------------------------ */

typedef struct weft_filter weft_filter_t;

/* Compiles a trigger's filters (NULL, n 0: every event); a CESQL expression that does
 * not parse is refused, the message naming the manifest's line. */
int weft_filter_compile(const weft_app_t *app, const weft_app_filter_t *filters, size_t n,
                        weft_filter_t **out, weft_error_t *err);
/* Does ev pass? A CESQL expression whose evaluation raises an error does not match;
 * the first such error of a filter is logged (tag names the trigger). */
bool weft_filter_match(weft_filter_t *f, const weft_ce_t *ev, const char *tag);
void weft_filter_free(weft_filter_t *f);
/* Appends filters[0..n) as weft.toml writes them, joined by ", " ("{ exact = { type =
 * \"a\" } }, { cesql = \"source LIKE 'x%'\" }"), strings as TOML basic strings. */
int weft_filter_toml(const weft_app_filter_t *filters, size_t n, weft_buf_t *out);

#endif
