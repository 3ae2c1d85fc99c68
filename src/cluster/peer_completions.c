/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * peer_completions.c - the completion queue of peer_net.h: where the peer
 * thread leaves finished requests for the thread that made them, and the
 * hand-off (peer_req_deliver) that puts them there.
 *
 *   peer thread: req_finish --> peer_req_deliver --(q->lock) push on q->list,
 *      notify() if the list was empty
 *   owner thread: peer_completions_drain --(q->lock) take the whole list -->
 *      run each callback, free each request
 *
 * Lifetime: a queue is reference-counted; its owner holds one reference
 * (dropped by peer_completions_destroy) and every request bound for it holds
 * one (taken at peer_net_request, dropped by peer_req_free). Destroying the
 * queue marks it closed, so later deliveries free the request without running
 * its callback, and frees what was waiting. q->lock is taken alone and never
 * held while calling out.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <event2/event.h>

#include "base/alloc.h"
#include "base/status.h"
#include "cluster/peer_net.h"
#include "cluster/peer_net_internal.h"

struct peer_completions {
    pthread_mutex_t lock;
    struct req_list list; /* guarded by lock */
    bool closed;          /* guarded by lock: the owner is gone */
    atomic_uint refs;
    peer_notify_fn notify;
    void *notify_arg;
};

int
peer_completions_create(peer_notify_fn notify, void *notify_arg, struct peer_completions **out)
{
    struct peer_completions *q = rc_calloc(1, sizeof(*q));

    *out = NULL;
    if (q == NULL) {
        return RC_ENOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    atomic_init(&q->refs, 1);
    q->notify = notify;
    q->notify_arg = notify_arg;
    *out = q;
    return RC_OK;
}

void
peer_completions_ref(struct peer_completions *q)
{
    atomic_fetch_add(&q->refs, 1);
}

static void
completions_unref(struct peer_completions *q)
{
    if (atomic_fetch_sub(&q->refs, 1) == 1) {
        pthread_mutex_destroy(&q->lock);
        rc_free(q);
    }
}

void
peer_req_free(struct req *r)
{
    if (r->timer != NULL) {
        event_free(r->timer);
    }
    rc_free(r->frame);
    rc_free(r->rbody);
    if (r->q != NULL) {
        completions_unref(r->q);
    }
    rc_free(r);
}

void
peer_completions_destroy(struct peer_completions *q)
{
    struct req_list l;
    struct req *r;

    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    l = q->list;
    memset(&q->list, 0, sizeof(q->list));
    pthread_mutex_unlock(&q->lock);
    while ((r = list_pop(&l)) != NULL) {
        peer_req_free(r);
    }
    completions_unref(q);
}

size_t
peer_completions_drain(struct peer_completions *q)
{
    struct req_list l;
    struct req *r;
    size_t n = 0;

    pthread_mutex_lock(&q->lock);
    l = q->list;
    memset(&q->list, 0, sizeof(q->list));
    pthread_mutex_unlock(&q->lock);
    while ((r = list_pop(&l)) != NULL) {
        r->done(r->arg, &r->reply);
        peer_req_free(r);
        n++;
    }
    return n;
}

/* Hand a finished request to its owner. */
void
peer_req_deliver(struct req *r)
{
    struct peer_completions *q = r->q;
    bool wake;

    if (r->internal) {
        peer_req_free(r);
        return;
    }
    if (q == NULL) {
        r->done(r->arg, &r->reply);
        peer_req_free(r);
        return;
    }
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        peer_req_free(r);
        return;
    }
    wake = q->list.head == NULL;
    list_push(&q->list, r);
    /* Under the lock: once r is in the list the owner may drain it and
     * destroy q (dropping the last reference) as soon as the lock is free,
     * so nothing here touches q after the unlock; and a destroy that has
     * returned is never followed by a notify. */
    if (wake && q->notify != NULL) {
        q->notify(q->notify_arg);
    }
    pthread_mutex_unlock(&q->lock);
}
