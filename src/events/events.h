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

/* A configuration of the events half: one app's brokers, targets and triggers, with the
 * functions its function targets call. */
typedef struct weft_events_config {
    const weft_app_t *app; /* brokers, targets, triggers; borrowed until released */
    /* The loaded function of the app named name, for function targets; borrowed until
     * released. */
    weft_function_t *(*function)(void *arg, const char *name);
    void *function_arg;
    /* Called once, from any thread, when nothing made of this configuration runs any
     * more (its triggers' last deliveries finished after a later configuration replaced
     * it, or weft_events_free): the owner of app and of the functions may free them
     * then. NULL: nothing to tell. Also called when weft_events_create or
     * weft_events_prepare fails, and by weft_events_discard. */
    void (*release)(void *arg);
    void *release_arg;
    /* How long this configuration's deliveries under way may go on once a later one
     * replaced it (weft_events_commit); 0: WEFT_EVENTS_RELOAD_GRACE_NS. */
    uint64_t reload_grace_ns;
    /* This weft's name among the nodes that share a broker (its member name in the
     * triggers' groups: what it left pending when it stopped, it reads first when it
     * comes back under the same name). Taken from the first configuration only; NULL:
     * HOSTNAME:PID. */
    const char *node;
} weft_events_config_t;

/* Opens every broker's log in the app's state folder (creating it), checks every
 * trigger's filters (a CESQL expression that does not parse is refused with the
 * manifest's file and line) and resolves targets. Nothing is delivered yet. An app
 * without brokers opens no log (a later configuration that has some opens it when it is
 * prepared; that state folder is the log's until weft_events_free). */
int weft_events_create(const weft_events_config_t *cfg, weft_events_t **out, weft_error_t *err);

/* ---- Reloading: a new configuration while events flow ------------------------------ */

typedef struct weft_events_conf weft_events_conf_t;

/* Checks cfg and builds from it the next configuration of ev (filters compiled, targets
 * resolved, new brokers' streams created in the log), without changing what runs: on
 * error nothing changed (a CESQL filter that does not parse names its line; a state
 * folder other than the running one is WEFT_ECONFIG, since the log cannot move while
 * weft runs). */
int weft_events_prepare(weft_events_t *ev, const weft_events_config_t *cfg,
                        weft_events_conf_t **out, weft_error_t *err);

/* Makes conf the running configuration (ev takes it). From now on, ingests go to its
 * brokers (a broker it no longer has answers 404) and its triggers deliver. Every
 * trigger of the previous configuration stops taking events at once; its deliveries
 * under way finish as it said (target, retries, dead letter) for up to its
 * reload_grace_ns, and what is still unfinished then is canceled, to be
 * delivered again by its successor. A trigger of conf named like one of the previous
 * configuration on the same broker is its successor: it starts once its predecessor has
 * stopped, from its position, and keeps its counts; other triggers start at once, a new
 * one from its `from`. A trigger that conf no longer has forgets its position once its
 * deliveries are finished. Returns at once (the hand-over runs on a thread of its own);
 * the previous configuration is released when it is over. A trigger's counts go by
 * broker and trigger name, so a successor keeps its predecessor's. Before
 * weft_events_start nothing of the previous configuration ran: it is released at once.
 * After weft_events_stop, conf is discarded. weft_events_stop and weft_events_free may
 * come at any moment of a hand-over: what is still under way is abandoned, as on a
 * stop, and every configuration is released. */
void weft_events_commit(weft_events_t *ev, weft_events_conf_t *conf);
/* Frees a prepared configuration that was not committed (its config is released). */
void weft_events_discard(weft_events_conf_t *conf);
#define WEFT_EVENTS_RELOAD_GRACE_NS (30ull * 1000000000ull)

/* ---- Looking at events: live tails and the state ------------------------------------ */

typedef struct weft_events_tail weft_events_tail_t;

typedef struct weft_events_tail_opts {
    const char *broker;
    /* Where it starts: after seq `after` when it is not 0 (an SSE client's
     * Last-Event-ID); else the oldest event the log retains when earliest; else the
     * next event ingested from now on. */
    uint64_t after;
    bool earliest;
    /* A CESQL expression: only the events for which it is true are read; NULL: all. */
    const char *filter;
    /* Called when the log may hold more for the tail: from the log's writer thread,
     * quick and non-blocking (an eventfd, a message to an event loop), never after
     * weft_events_tail_close returns, possibly before weft_events_tail_open returns. It
     * tells of events appended after the open: what the log already holds past the
     * start (after, earliest) is told by nothing, so read once after opening. */
    void (*notify)(void *arg);
    void *arg;
} weft_events_tail_opts_t;

/* Opens a tail of a broker's log. WEFT_ENOTFOUND: no such broker in the running
 * configuration; WEFT_EINVAL: the filter does not parse, or calls a function CESQL does
 * not have (the message says where). The tail reads the broker's log, not the broker:
 * it lives on when a reload removes its broker (it reads nothing new then, unless a
 * later configuration brings a broker of that name back, whose events it reads). A
 * tail's position is its own: it holds nothing back from retention, and what retention
 * deleted before it was read is skipped. Close every tail before weft_events_free. */
int weft_events_tail_open(weft_events_t *ev, const weft_events_tail_opts_t *opts,
                          weft_events_tail_t **out, weft_error_t *err);

/* One event read from a tail: its seq in the broker's log (an SSE id), and the event
 * in the JSON of structured mode (application/cloudevents+json, on one line),
 * NUL-terminated; both valid during the call. */
typedef void (*weft_events_tail_fn)(void *arg, uint64_t seq, const char *json, size_t len);

/* Reads what the tail has not read yet, at most max events (max >= 1), calling fn for
 * each one that passes the filter, in order. Returns the number of log records read
 * (0: nothing new yet: wait for notify), or -1 with err set. It may read the disk but
 * never waits for new events; not on two threads at once for one tail. */
long weft_events_tail_read(weft_events_tail_t *t, size_t max, weft_events_tail_fn fn, void *arg,
                           weft_error_t *err);
void weft_events_tail_close(weft_events_tail_t *t);

/* The state of the running configuration, appended to out as one JSON object:
 *   {"brokers":  [{"name", "stored": events the log holds now, "latest": its newest
 *                  seq, "ingested", "rejected": ingest requests' events accepted and
 *                  refused since weft started}],
 *    "triggers": [{"name", "broker", "filter": the filters as written in weft.toml's
 *                  syntax ("{ exact = { type = \"a\" } }", several joined by ", ";
 *                  null for none), "target", "dead_letter" (null: none), "position",
 *                  "lag": latest - position, "delivered", "retried", "failed",
 *                  "dead_lettered", "filtered_out" (counts since weft started, carried
 *                  across reloads)}],
 *    "targets":  [{"name", "url" and "mode" ("binary" / "structured"), or
 *                  "function"}]}
 * Targets are the [[target]]s; a trigger's target or dead letter that names a
 * [[function]] directly is that function's name.
 * Position: where the running trigger is, the events at or below it finished; counts:
 * "delivered" events its target answered with a 2xx, "retried" attempts after the first
 * of each event, "failed" events given up (each logged: the target failed with no dead
 * letter, or the dead letter failed too, or a reply could not be stored), "dead_lettered"
 * events its dead-letter target took, "filtered_out" events its filters did not pass;
 * "ingested" and "rejected" count events, not requests: a refused request counts the
 * events it held when they decoded, else 1; a request for a broker that is not counts
 * nowhere; "stored" is what retention has not deleted yet. */
int weft_events_describe(weft_events_t *ev, weft_buf_t *out, weft_error_t *err);

/* The same counts as figures, for GET /_weft/metrics: fn is called once per broker
 * (trigger NULL) and once per trigger of the running configuration, under the events'
 * lock (fn must not call back into ev). */
typedef struct weft_events_figures {
    const char *broker;
    const char *trigger;                 /* NULL: the broker's own figures */
    uint64_t stored, ingested, rejected; /* a broker's */
    uint64_t delivered, retried, failed, dead_lettered, filtered_out, lag; /* a trigger's */
} weft_events_figures_t;
typedef void (*weft_events_figures_fn)(void *arg, const weft_events_figures_t *f);
void weft_events_figures(weft_events_t *ev, weft_events_figures_fn fn, void *arg);

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

/* ---- Channels: Spin's Redis trigger and the broker sources ------------------------- */

/* The app's Redis triggers and sources (app.h, "Redis channels") running: one
 * subscription per distinct address (store.h, "Channels": reconnected with a backoff, a
 * message published while it is down is lost), each message handed to every trigger of
 * its address and channel (weft_function_message: Spin's handle-redis-message or the
 * payload on stdin; a failure is logged) and turned into a CloudEvent for every source
 * of them, ingested into the source's broker as weft_events_ingest takes a binary-mode
 * POST (channels.c says which attributes). Messages of one address are handled one at a
 * time, in order, on its subscription's thread. */
typedef struct weft_channels weft_channels_t;

typedef struct weft_channels_config {
    const weft_app_t *app; /* borrowed until weft_channels_stop returns */
    /* The loaded function of the app named name; borrowed as app. */
    weft_function_t *(*function)(void *arg, const char *name);
    void *function_arg;
    /* Where the sources ingest; NULL: the sources are not started. */
    weft_events_t *events;
    /* Called once when nothing made of this configuration runs any more (after
     * weft_channels_stop, or once a later configuration took its place through
     * weft_channels_update and its last message is handled), also when
     * weft_channels_start fails: the owner of app and of the functions may free them
     * then. NULL: nothing to tell. */
    void (*release)(void *arg);
    void *release_arg;
} weft_channels_config_t;

/* Subscribes (weft-dist.so is loaded only when the app has a Redis trigger or source).
 * Fails only when a location does not parse or the plugin cannot be loaded: a server
 * that does not answer is tried again in the background. */
int weft_channels_start(const weft_channels_config_t *cfg, weft_channels_t **out,
                        weft_error_t *err);
/* A reload's configuration: when it needs exactly the subscriptions ch holds (the same
 * addresses with the same channels, in the same order), it replaces ch's at once, the
 * connections kept (no message is lost), messages under way finishing under the old
 * one; true then. false: nothing changed (the caller stops ch and starts anew, and cfg's
 * release is not called). */
bool weft_channels_update(weft_channels_t *ch, const weft_channels_config_t *cfg);
/* How many subscriptions it holds (the distinct addresses). */
size_t weft_channels_count(const weft_channels_t *ch);
/* Unsubscribes and waits for the calls under way and for the sources' events handed to
 * the brokers (durable or refused), then releases the configuration. Before the events'
 * stop. NULL: nothing. */
void weft_channels_stop(weft_channels_t *ch);

#endif
