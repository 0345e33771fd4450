/* events: the path of an event (DESIGN.md).
 *
 * The brokers, triggers and targets of an app (weft.toml's [[broker]], [[trigger]],
 * [[target]]) running in one process: an event POSTed to /brokers/NAME is decoded
 * (binary, structured or batched CloudEvents over HTTP), validated and appended to the
 * broker's durable log (the store layer); the answer is 202 only once it is on disk.
 * Every trigger reads the log from its own position, filters each event once (the
 * subscriptions-API dialects and CESQL) and delivers the matching ones to its target,
 * a function of the app (called in process through invoke, as a binary-mode request)
 * or a URL (HTTP POST), with retries, backoff and a dead-letter target as Knative's
 * delivery spec says. A 2xx answer that carries an event is a reply: it goes back into
 * the broker, its loop bounded by the knativebrokerttl extension. A trigger's position
 * moves past an event only once it is delivered, dead-lettered, filtered out or given
 * up (each give-up logged), so after a crash every event that got a 202 is delivered
 * at least once.
 *
 * The headers of this layer: cloudevent.h (the model and the HTTP and JSON codecs),
 * cesql.h (CloudEvents SQL), and this one.
 */
#ifndef WEFT_EVENTS_H
#define WEFT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../app/app.h"
#include "../invoke/invoke.h"
#include "../util/util.h"

typedef struct weft_events weft_events_t;

typedef struct weft_events_config {
    const weft_app_t *app; /* brokers, targets, triggers; borrowed until free */
    /* The loaded function of the app named name, for function targets; borrowed. */
    weft_function_t *(*function)(void *arg, const char *name);
    void *function_arg;
} weft_events_config_t;

/* Opens every broker's log in the app's state folder (creating it), checks every
 * trigger's filters (a CESQL expression that does not parse is refused with the
 * manifest's file and line) and resolves targets. Nothing is delivered yet. */
int weft_events_create(const weft_events_config_t *cfg, weft_events_t **out, weft_error_t *err);

/* Starts the triggers: delivery of what the logs hold past each trigger's position. */
int weft_events_start(weft_events_t *ev, weft_error_t *err);

/* The answer to one ingest request: the HTTP status (202 accepted and durable, 400
 * invalid with body saying why, 404 no such broker, 413 too large, 415 not a
 * CloudEvent's content type, 503 the log failed) and a body (text, NUL-terminated;
 * "" for 202), both valid only during the call. */
typedef void (*weft_events_done_fn)(void *arg, unsigned status, const char *body);

/* Takes one POST to /brokers/<broker>: headers (as received) and body. done is called
 * exactly once: at once for a request refused, or from the log's writer thread once
 * the events are durable. */
void weft_events_ingest(weft_events_t *ev, const char *broker, const weft_header_t *headers,
                        size_t nheaders, const uint8_t *body, size_t body_len,
                        weft_events_done_fn done, void *arg);

/* Stops the triggers (deliveries under way are abandoned unacknowledged: they are
 * delivered again at the next start) and waits for the logs' last writes. */
void weft_events_stop(weft_events_t *ev);
void weft_events_free(weft_events_t *ev);

#endif
