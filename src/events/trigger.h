/* trigger.h: a broker's triggers as broker.c keeps them, shared with shared.c (the
 * thread of a trigger whose broker's log several nodes share). Internal to src/events;
 * the locks and states are described at the top of broker.c. */
#ifndef WEFT_EVENTS_TRIGGER_H
#define WEFT_EVENTS_TRIGGER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

/* A broker's counts, by name: they outlive configurations (weft_events_free frees
 * them). Events, not requests: a batch of 3 counts 3. */
typedef struct broker_stats {
    struct broker_stats *next;
    char name[WEFT_APP_MAX_NAME + 1];
    atomic_uint_fast64_t ingested; /* accepted: durable, answered 202 */
    atomic_uint_fast64_t rejected; /* refused: the events a refused request held if
                                      known (it decoded), else 1 */
} broker_stats_t;

/* A trigger's counts, by broker and trigger name, carried across reloads. */
typedef struct trigger_stats {
    struct trigger_stats *next;
    char broker[WEFT_APP_MAX_NAME + 1], name[WEFT_APP_MAX_NAME + 1];
    atomic_uint_fast64_t delivered;     /* events its target answered with a 2xx */
    atomic_uint_fast64_t retried;       /* attempts after the first, of every event */
    atomic_uint_fast64_t failed;        /* events given up (logged) */
    atomic_uint_fast64_t dead_lettered; /* events its dead-letter target took */
    atomic_uint_fast64_t filtered_out;  /* events its filters did not pass */
    weft_metric_t *latency;             /* delivery times (util.h's registry); NULL: not counted */
} trigger_stats_t;

struct conf;

typedef struct broker {
    struct conf *conf;
    const weft_app_broker_t *def;
    weft_journal_stream_t *stream; /* its log: a stream of the app's journal */
    broker_stats_t *stats;
} broker_t;

/* A target resolved: a URL, or a function of the app, as a destination of the
 * delivery engine with the trigger's policy. */
typedef struct dest {
    const char *name;
    const char *url;     /* NULL: fn */
    weft_function_t *fn; /* NULL: url */
    bool structured;
    weft_delivery_dest_t *dd; /* the engine's; freed by weft_delivery_stop */
} dest_t;

/* An event a trigger of a shared broker holds: read from its group, not finished. */
typedef struct held {
    uint64_t seq;
    uint64_t since_ns; /* read, or last told to the group (weft_journal_group_hold) */
} held_t;

/* A trigger's state (under ev->lock): see the top of this file. */
typedef enum {
    TRIGGER_WAITING = 0, /* not started: its predecessor is still draining, or not started yet */
    TRIGGER_RUNNING,
    TRIGGER_DRAINING, /* its conf was retired: no more reading, deliveries finishing */
    TRIGGER_DONE,
} trigger_state_t;

typedef struct trigger {
    struct conf *conf;
    const weft_app_trigger_t *def;
    char tag[160]; /* "broker wasm, trigger to-display", for the log */
    broker_t *broker;
    trigger_stats_t *stats;
    weft_filter_t *filter;
    dest_t target;
    dest_t dead_letter;
    bool has_dead_letter;
    trigger_state_t state;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    uint64_t pos;   /* every event at or below is finished */
    uint64_t next;  /* the next sequence to read */
    uint64_t saved; /* the position last written */
    uint64_t saved_at;
    size_t in_flight;
    uint8_t done[WEFT_TRIGGER_WINDOW]; /* by seq % WINDOW, for pos < seq < next */
    /* A trigger of a shared broker (its log is a journal several nodes share): it reads
     * as a member of its group (shared.c), and acknowledges what it finished. */
    bool shared;
    const char *node; /* this weft's name among the nodes: its member's name */
    held_t *held;     /* the events it holds (in flight), in no order */
    size_t nheld, held_cap;
    uint64_t *acks; /* finished, to acknowledge */
    size_t nacks, acks_cap;
} trigger_t;

/* One record read from the log: filtered, then delivered or finished. Called without
 * the lock; seq is counted in flight. deliveries: on a shared log, how many times the
 * group has handed the record to a node (0: not known, or not a shared log). */
void weft_trigger_dispatch(trigger_t *t, uint64_t seq, const uint8_t *data, size_t len,
                           uint32_t deliveries);
/* Waits on the trigger's condition (a delivery finished, or stop) for up to ms; with the
 * lock. */
void weft_trigger_wait_ms(trigger_t *t, long ms);
/* The same, at most until the next save of the position is due. */
void weft_trigger_wait(trigger_t *t);

/* The thread of a trigger of a shared broker (shared.c); arg is the trigger_t. */
void *weft_trigger_shared_main(void *arg);
/* A shared trigger acknowledges what finished since the last time; with the lock, which
 * it drops while telling the group. What the group was not told stays to be told at the
 * next turn. Nothing for a trigger that is not shared (it has no acknowledgements). */
void weft_trigger_shared_ack(trigger_t *t);

#endif
