/* shared: the thread of a trigger whose broker's log several weft nodes share (a
 * journal with groups, store.h "Shared streams": the Redis one). The trigger reads as
 * its node's member of the group named after it: first what this member left pending in
 * an earlier run, then new records; it tells the group which records it still works on
 * (so that no other node claims them), acknowledges finished ones in batches, takes over
 * records other members left idle for the broker's claim_after, and removes members
 * that stopped. Delivery, dead letters and finishing are broker.c's, as for any
 * trigger. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trigger.h"

void weft_trigger_shared_ack(trigger_t *t) {
    if (t->nacks == 0)
        return;
    uint64_t *acks = t->acks;
    size_t n = t->nacks;
    t->acks = NULL;
    t->nacks = t->acks_cap = 0;
    pthread_mutex_unlock(&t->lock);
    weft_error_t err = {0};
    int rc = weft_journal_group_ack(t->broker->stream, t->def->name, acks, n, &err);
    if (rc)
        weft_log("%s: acknowledging %zu events: %s (told again at the next turn)", t->tag, n,
                 err.msg);
    pthread_mutex_lock(&t->lock);
    if (!rc) {
        free(acks);
        return;
    }
    /* Put them back in front of what finished meanwhile. */
    uint64_t *more = realloc(acks, (n + t->nacks) * sizeof *acks);
    if (!more) {
        free(acks); /* not acknowledged: delivered again, at least once */
        return;
    }
    if (t->nacks)
        memcpy(more + n, t->acks, t->nacks * sizeof *more);
    free(t->acks);
    t->acks = more;
    t->nacks += n;
    t->acks_cap = t->nacks;
}

/* Tells the group this node still works on the events it has held for a third of
 * claim_after or more, so that no other node claims them; with the lock. */
static void shared_hold(trigger_t *t, uint64_t now, uint64_t period) {
    size_t n = 0;
    uint64_t *seqs = malloc((t->nheld ? t->nheld : 1) * sizeof *seqs);
    if (!seqs)
        return;
    for (size_t i = 0; i < t->nheld; i++)
        if (now - t->held[i].since_ns >= period) {
            seqs[n++] = t->held[i].seq;
            t->held[i].since_ns = now;
        }
    if (n) {
        pthread_mutex_unlock(&t->lock);
        weft_error_t err = {0};
        if (weft_journal_group_hold(t->broker->stream, t->def->name, t->node, seqs, n, &err))
            weft_log("%s: telling the group it still holds %zu events: %s", t->tag, n, err.msg);
        pthread_mutex_lock(&t->lock);
    }
    free(seqs);
}

static bool holds(const trigger_t *t, uint64_t seq) {
    for (size_t i = 0; i < t->nheld; i++)
        if (t->held[i].seq == seq)
            return true;
    return false;
}

/* Removes the members of the trigger's group that stopped: nothing pending (what they
 * held was claimed) and idle for idle_ns, so that the group's list of members does
 * not grow with every node ever started under a new name. Without the lock. */
static void prune(trigger_t *t, uint64_t idle_ns) {
    weft_error_t err = {0};
    size_t removed = 0;
    if (weft_journal_group_prune(t->broker->stream, t->def->name, t->node, idle_ns / 1000000,
                                 &removed, &err))
        return; /* said by the read that follows, which meets the same trouble */
    if (removed)
        weft_log("%s: removed %zu member%s of its group with nothing pending and idle for "
                 "%llu ms (nodes that stopped)",
                 t->tag, removed, removed == 1 ? "" : "s", (unsigned long long)(idle_ns / 1000000));
}

/* A trigger of a shared broker: a member (this node) of its group. It first reads what
 * it left pending in a previous run, then new events, and every half claim_after takes
 * over events another member has left idle for claim_after (a node that stopped). */
void *weft_trigger_shared_main(void *arg) {
    trigger_t *t = arg;
    weft_crash_thread("trigger");
    weft_journal_stream_t *stream = t->broker->stream;
    const char *group = t->def->name, *node = t->node;
    uint64_t claim_ns = t->broker->def->claim_after_ns;
    uint64_t claim_every = claim_ns / 2, hold_every = claim_ns / 3;
    bool own = true, failing = false;
    uint64_t own_after = 0, cursor = 0, now = weft_now_ns();
    uint64_t next_claim = now + claim_every, next_hold = now + hold_every, next_state = 0;
    weft_journal_page_t page = {0};
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        weft_trigger_shared_ack(t);
        now = weft_now_ns();
        if (now >= next_hold) {
            shared_hold(t, now, hold_every);
            next_hold = now + hold_every;
        }
        if (now >= next_state) {
            pthread_mutex_unlock(&t->lock);
            uint64_t pos = 0, pending = 0;
            weft_error_t err = {0};
            int rc = weft_journal_group_state(stream, group, &pos, &pending, &err);
            pthread_mutex_lock(&t->lock);
            if (!rc)
                t->pos = pos;
            next_state = now + WEFT_TRIGGER_STATE_NS;
        }
        size_t par = t->def->delivery.parallelism ? t->def->delivery.parallelism : 1;
        size_t room = t->in_flight < par ? par - t->in_flight : 0;
        if (room > WEFT_TRIGGER_PAGE)
            room = WEFT_TRIGGER_PAGE;
        if (room == 0) {
            weft_trigger_wait(t); /* full: wait for a delivery to finish */
            continue;
        }
        bool claiming = !own && now >= next_claim;
        int block = t->nacks ? 0 : WEFT_TRIGGER_SHARED_BLOCK_MS;
        pthread_mutex_unlock(&t->lock);
        weft_journal_page_free(&page);
        weft_error_t err = {0};
        int rc;
        if (claiming && cursor == 0)
            prune(t, 2 * claim_ns);
        if (claiming)
            rc = weft_journal_group_claim(stream, group, node, claim_ns / 1000000, &cursor, room,
                                          &page, &err);
        else
            rc = weft_journal_group_read(stream, group, node, own, own_after, room, own ? 0 : block,
                                         &page, &err);
        if (rc == WEFT_ENOTFOUND) {
            /* The group is gone (removed by another node, or a Redis that lost it). */
            weft_log("%s: %s: joining it again", t->tag, err.msg);
            rc = weft_journal_group_join(stream, group, t->def->from == WEFT_APP_FROM_EARLIEST,
                                         &err);
        }
        pthread_mutex_lock(&t->lock);
        if (rc) {
            if (!failing)
                weft_log("%s: reading the log: %s", t->tag, err.msg);
            failing = true;
            weft_trigger_wait_ms(t,
                                 200); /* Redis is away: try again soon, acknowledging meanwhile */
            continue;
        }
        if (failing)
            weft_log("%s: reading the log again", t->tag);
        failing = false;
        if (claiming && (cursor == 0 || page.n == 0)) {
            next_claim = now + claim_every;
            cursor = 0;
        }
        if (own && page.n == 0)
            own = false;
        if (claiming && page.n)
            weft_log("%s: took over %zu events another node left idle for %llu ms", t->tag, page.n,
                     (unsigned long long)(claim_ns / 1000000));
        for (size_t i = 0; i < page.n && !t->stopping; i++) {
            uint64_t seq = page.records[i].seq;
            if (own)
                own_after = seq;
            if (holds(t, seq))
                continue; /* claimed back from itself: already under way */
            if (t->nheld == t->held_cap) {
                size_t cap = t->held_cap ? 2 * t->held_cap : 64;
                held_t *more = realloc(t->held, cap * sizeof *more);
                if (!more)
                    break; /* left pending: claimed or read again later */
                t->held = more;
                t->held_cap = cap;
            }
            t->held[t->nheld++] = (held_t){.seq = seq, .since_ns = now};
            t->in_flight++;
            pthread_mutex_unlock(&t->lock);
            weft_trigger_dispatch(t, seq, page.records[i].data, page.records[i].len,
                                  page.records[i].deliveries);
            pthread_mutex_lock(&t->lock);
        }
    }
    /* Stopping: what finished is acknowledged; what is under way is abandoned by the
     * delivery engine's shutdown and stays pending for this node's next run (or
     * another's claim). */
    weft_trigger_shared_ack(t);
    pthread_mutex_unlock(&t->lock);
    weft_journal_page_free(&page);
    return NULL;
}
