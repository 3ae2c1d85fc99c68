/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server.c - listeners (TCP on each -l address, or the -s unix socket),
 * worker threads, connection hand-off, signals and the graceful stop.
 * The flow is drawn in server.h.
 *
 * Stop sequence: a signal or `shutdown` sets srv->stopping and breaks the
 * main loop; the listeners are freed (nothing new is accepted); each worker
 * is told to stop: its connections read no further requests, and close once
 * their replies (including those waiting for durability) are written, or
 * after SERVER_STOP_GRACE_MS; then the workers exit and are joined. main()
 * then destroys the coordinator and closes the store (a final checkpoint).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/status.h"
#include "base/util.h"
#include "kv/ring.h"
#include "server/cluster_srv.h"
#include "server/auth.h"
#include "server/conn.h"
#include "server/server.h"

#define SERVER_STOP_GRACE_MS 5000
#define SERVER_TOO_MANY      "ERROR Too many open connections\r\n"

/* ------------------------------------------------------------------ workers */

static void
worker_adopt(struct worker *w)
{
    for (;;) {
        int fd = -1;

        pthread_mutex_lock(&w->queue_lock);
        if (w->qlen > 0) {
            fd = w->queue[0];
            memmove(w->queue, w->queue + 1, (w->qlen - 1) * sizeof(int));
            w->qlen--;
        }
        pthread_mutex_unlock(&w->queue_lock);
        if (fd < 0) {
            return;
        }
        if (w->stopping) {
            close(fd);
            atomic_fetch_sub(&w->srv->curr_conns, 1);
        } else if (conn_create(w, fd) != RC_OK) {
            atomic_fetch_sub(&w->srv->curr_conns, 1);
        }
    }
}

static void
worker_begin_stop(struct worker *w)
{
    struct conn *c, *next;

    w->stopping = true;
    w->stop_deadline_ms = util_mono_ms() + SERVER_STOP_GRACE_MS;
    for (c = w->conns; c != NULL; c = next) {
        next = conn_next(c);
        conn_begin_stop(c);
    }
    if (w->conns == NULL) {
        event_base_loopbreak(w->base);
    }
}

static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    worker_adopt(w);
    if (atomic_load(&w->srv->stopping) && !w->stopping) {
        worker_begin_stop(w);
    }
}

static void
worker_sync_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct conn *c, *next;

    (void)fd;
    (void)what;
    for (c = w->conns; c != NULL; c = next) {
        next = conn_next(c);
        conn_on_sync(c);
    }
    if (w->stopping && w->conns == NULL) {
        event_base_loopbreak(w->base);
    }
}

/* End of a loop pass under --sync=batch: one log write for every commit
 * the pass made (and any other thread's), then release what it covers. */
static void
worker_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    store_sync_write_now(w->srv->st);
    worker_sync_cb(-1, 0, w);
}

void
worker_request_flush(struct worker *w)
{
    event_active(w->flush_ev, EV_READ, 0);
}

/* Runs on the store's sync thread. */
static void
worker_sync_notify(void *arg)
{
    struct worker *w = arg;

    event_active(w->sync_ev, EV_READ, 0);
}

static void
worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t now = util_mono_ms();
    struct conn *c, *next;

    (void)fd;
    (void)what;
    for (c = w->conns; c != NULL; c = next) {
        next = conn_next(c);
        conn_on_tick(c, now);
    }
    if (w->stopping) {
        if (w->conns != NULL && now >= w->stop_deadline_ms) {
            log_warn("worker %d: closing %zu connections still busy at stop", w->id, w->nconns);
            while (w->conns != NULL) {
                conn_close(w->conns);
            }
        }
        if (w->conns == NULL) {
            event_base_loopbreak(w->base);
        }
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    event_base_dispatch(w->base);
    while (w->conns != NULL) {
        conn_close(w->conns);
    }
    return NULL;
}

static int
worker_init(struct server *srv, struct worker *w, int id)
{
    static const struct timeval one_second = {1, 0};

    w->srv = srv;
    w->id = id;
    pthread_mutex_init(&w->queue_lock, NULL);
    thread_stats_init(&w->stats);
    w->base = event_base_new();
    /* Three priorities: I/O and timers at the default (1), the end-of-pass
     * log write below them (2). */
    if (w->base == NULL || event_base_priority_init(w->base, 3) != 0) {
        return RC_ENOMEM;
    }
    w->flush_ev = event_new(w->base, -1, 0, worker_flush_cb, w);
    if (w->flush_ev == NULL || event_priority_set(w->flush_ev, 2) != 0) {
        return RC_ENOMEM;
    }
    w->notify_ev = event_new(w->base, -1, EV_PERSIST, worker_notify_cb, w);
    w->sync_ev = event_new(w->base, -1, EV_PERSIST, worker_sync_cb, w);
    w->tick_ev = event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w);
    if (w->notify_ev == NULL || w->sync_ev == NULL || w->tick_ev == NULL ||
        event_add(w->tick_ev, &one_second) != 0) {
        return RC_ENOMEM;
    }
    if (coord_thread_create(srv->co, &w->ct) != RC_OK) {
        return RC_ENOMEM;
    }
    if (srv->cluster != NULL) {
        int rc = cluster_srv_worker_init(srv->cluster, w);

        if (rc != RC_OK) {
            return rc;
        }
    }
    return store_sync_subscribe(srv->st, worker_sync_notify, w);
}

static void
worker_deinit(struct worker *w)
{
    cluster_srv_worker_deinit(w); /* before the base: its event lives there */
    if (w->notify_ev != NULL) {
        event_free(w->notify_ev);
    }
    if (w->sync_ev != NULL) {
        event_free(w->sync_ev);
    }
    if (w->tick_ev != NULL) {
        event_free(w->tick_ev);
    }
    if (w->flush_ev != NULL) {
        event_free(w->flush_ev);
    }
    if (w->base != NULL) {
        event_base_free(w->base);
    }
    for (size_t i = 0; i < w->qlen; i++) {
        close(w->queue[i]);
    }
    rc_free(w->queue);
    coord_thread_destroy(w->ct);
    pthread_mutex_destroy(&w->queue_lock);
}

static int
worker_enqueue(struct worker *w, int fd)
{
    int rc = RC_OK;

    pthread_mutex_lock(&w->queue_lock);
    if (w->qlen == w->qcap) {
        size_t cap = w->qcap ? w->qcap * 2 : 64;
        int *q = rc_realloc(w->queue, cap * sizeof(int));

        if (q == NULL) {
            rc = RC_ENOMEM;
        } else {
            w->queue = q;
            w->qcap = cap;
        }
    }
    if (rc == RC_OK) {
        w->queue[w->qlen++] = fd;
    }
    pthread_mutex_unlock(&w->queue_lock);
    if (rc == RC_OK) {
        event_active(w->notify_ev, EV_READ, 0);
    }
    return rc;
}

/* ------------------------------------------------------------------ accept */

static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                 void *arg)
{
    struct server *srv = arg;
    struct worker *w;
    int one = 1;

    (void)l;
    (void)salen;
    if (atomic_load(&srv->curr_conns) >= srv->cfg->max_conns) {
        /* memcached's answer when the limit is reached, then close. */
        (void)!write(fd, SERVER_TOO_MANY, sizeof(SERVER_TOO_MANY) - 1);
        close(fd);
        atomic_fetch_add(&srv->rejected_conns, 1);
        return;
    }
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    atomic_fetch_add(&srv->curr_conns, 1);
    atomic_fetch_add(&srv->total_conns, 1);
    w = &srv->workers[srv->next_worker++ % (unsigned)srv->nworkers];
    if (worker_enqueue(w, fd) != RC_OK) {
        close(fd);
        atomic_fetch_sub(&srv->curr_conns, 1);
    }
}

static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    log_warn("accept failed: %s", strerror(errno));
}

static int
server_add_listener(struct server *srv, int fd)
{
    struct evconnlistener *l;
    struct evconnlistener **ls;

    l = evconnlistener_new(srv->base, server_accept_cb, srv,
                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (l == NULL) {
        close(fd);
        return RC_ENOMEM;
    }
    evconnlistener_set_error_cb(l, server_accept_error_cb);
    ls = rc_realloc(srv->listeners, (srv->nlisteners + 1) * sizeof(*ls));
    if (ls == NULL) {
        evconnlistener_free(l);
        return RC_ENOMEM;
    }
    srv->listeners = ls;
    srv->listeners[srv->nlisteners++] = l;
    return RC_OK;
}

/* ------------------------------------------------------------------ binding */

static int
server_listen_fd(const struct sockaddr *sa, socklen_t salen, int backlog)
{
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, sa, salen) != 0 || listen(fd, backlog) != 0) {
        int err = errno;

        close(fd);
        return -err;
    }
    return fd;
}

static int
server_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Split one -l entry into host and port: "host", "host:port", "[v6]",
 * "[v6]:port" or a bare IPv6 literal. */
static void
server_split_addr(const char *entry, char *host, size_t hostsz, int *port)
{
    const char *colon = strrchr(entry, ':');
    size_t n;

    if (entry[0] == '[') {
        const char *end = strchr(entry, ']');

        n = end ? (size_t)(end - entry - 1) : strlen(entry + 1);
        snprintf(host, hostsz, "%.*s", (int)n, entry + 1);
        if (end != NULL && end[1] == ':') {
            *port = atoi(end + 2);
        }
        return;
    }
    if (colon != NULL && strchr(entry, ':') == colon) {
        snprintf(host, hostsz, "%.*s", (int)(colon - entry), entry);
        *port = atoi(colon + 1);
        return;
    }
    snprintf(host, hostsz, "%s", entry);
}

static int
server_bind_host(struct server *srv, const char *host, int port)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[16];
    int rc, bound = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    /* "*" (or an empty host) means every address, as in memcached. */
    rc =
        getaddrinfo(host[0] == '\0' || strcmp(host, "*") == 0 ? NULL : host, portstr, &hints, &res);
    if (rc != 0) {
        log_error("-l %s: %s", host, gai_strerror(rc));
        return RC_EINVAL;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = server_listen_fd(ai->ai_addr, ai->ai_addrlen, srv->cfg->backlog);

        if (fd < 0) {
            log_error("failed to listen on %s port %d: %s", host, port, strerror(-fd));
            freeaddrinfo(res);
            return RC_EIO;
        }
        if (srv->tcp_port == 0) {
            srv->tcp_port = server_bound_port(fd);
        }
        if (server_add_listener(srv, fd) != RC_OK) {
            freeaddrinfo(res);
            return RC_ENOMEM;
        }
        bound++;
        log_info("listening on %s port %d", host, server_bound_port(fd));
    }
    freeaddrinfo(res);
    return bound > 0 ? RC_OK : RC_EIO;
}

static int
server_bind_tcp(struct server *srv)
{
    char *list = rc_strdup(srv->cfg->listen ? srv->cfg->listen : "127.0.0.1");
    char *save = NULL, *entry;
    int rc = RC_OK;

    if (list == NULL) {
        return RC_ENOMEM;
    }
    for (entry = strtok_r(list, ",", &save); entry != NULL && rc == RC_OK;
         entry = strtok_r(NULL, ",", &save)) {
        char host[256];
        int port = srv->cfg->port;

        server_split_addr(entry, host, sizeof(host), &port);
        /* With -p 0, every address shares the port the first one got. */
        if (port == 0 && srv->tcp_port != 0) {
            port = srv->tcp_port;
        }
        rc = server_bind_host(srv, host, port);
    }
    rc_free(list);
    return rc;
}

static int
server_bind_unix(struct server *srv)
{
    const char *path = srv->cfg->unix_socket;
    struct sockaddr_un sun;
    struct stat sb;
    mode_t old;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        log_error("-s %s: path too long", path);
        return RC_EINVAL;
    }
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
        unlink(path); /* a stale socket from an earlier run */
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path));
    old = umask((mode_t)(~srv->cfg->unix_mask & 0777));
    fd = server_listen_fd((struct sockaddr *)&sun, sizeof(sun), srv->cfg->backlog);
    umask(old);
    if (fd < 0) {
        log_error("failed to listen on unix socket %s: %s", path, strerror(-fd));
        return RC_EIO;
    }
    log_info("listening on unix socket %s", path);
    return server_add_listener(srv, fd);
}

/* Write the bound port atomically (temp file + rename). */
static int
server_write_port_file(struct server *srv)
{
    const char *path = srv->cfg->port_file;
    char tmp[4096];
    FILE *f;

    if (path == NULL) {
        return RC_OK;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        log_error("--port-file %s: %s", path, strerror(errno));
        return RC_EIO;
    }
    fprintf(f, "%d\n", srv->tcp_port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        log_error("--port-file %s: %s", path, strerror(errno));
        return RC_EIO;
    }
    return RC_OK;
}

/* ------------------------------------------------------------------ cluster */

int
server_build_ring(const struct config *cfg, struct ring **out)
{
    const char **names = rc_calloc(config_nodes(cfg), sizeof(*names));
    int rc;

    *out = NULL;
    if (names == NULL) {
        return RC_ENOMEM;
    }
    names[0] = cfg->name;
    for (size_t i = 0; i < cfg->npeers; i++) {
        names[i + 1] = cfg->peers[i].name;
    }
    rc = ring_create(cfg->partitions, (unsigned)cfg->replicas, names, config_nodes(cfg), out);
    rc_free(names);
    return rc;
}

static int
server_setup_ring(struct server *srv)
{
    char hash[RING_HASH_STR_LEN];
    int rc = server_build_ring(srv->cfg, &srv->ring);

    if (rc != RC_OK) {
        log_error("cannot build the ring (%u partitions, %zu nodes): %s", srv->cfg->partitions,
                  config_nodes(srv->cfg), rc_strerror(rc));
        return rc;
    }
    ring_hash_str(srv->ring, hash);
    log_info("ring: %u partitions, %u replicas, %zu nodes, hash %s", ring_q(srv->ring),
             ring_n(srv->ring), ring_nodes(srv->ring), hash);
    return RC_OK;
}

/* ------------------------------------------------------------------ lifecycle */

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("signal %d received: stopping", (int)sig);
    server_request_stop(arg);
}

static void
server_hup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct server *srv = arg;
    char err[AUTH_ERR_LEN];

    (void)sig;
    (void)what;
    if (auth_reload(srv->auth, err, sizeof(err)) == RC_OK) {
        log_info("SIGHUP: authentication file re-read");
    }
}

/* -Y: load the password file (a failure stops start-up, as in memcached),
 * and re-read it on SIGHUP. */
static int
server_setup_auth(struct server *srv)
{
    char err[AUTH_ERR_LEN];
    int rc;

    if (srv->cfg->auth_file == NULL) {
        return RC_OK;
    }
    rc = auth_create(srv->cfg->auth_file, &srv->auth, err, sizeof(err));
    if (rc != RC_OK) {
        log_error("-Y: %s", err);
        return rc;
    }
    srv->hup_ev = evsignal_new(srv->base, SIGHUP, server_hup_cb, srv);
    if (srv->hup_ev == NULL || event_add(srv->hup_ev, NULL) != 0) {
        return RC_ENOMEM;
    }
    return RC_OK;
}

void
server_request_stop(struct server *srv)
{
    atomic_store(&srv->stopping, true);
    event_base_loopbreak(srv->base);
}

static int
server_setup(struct server *srv)
{
    int rc;

    srv->base = event_base_new();
    if (srv->base == NULL ||
        stats_prefix_create(srv->cfg->prefix_delimiter, &srv->prefix) != RC_OK) {
        return RC_ENOMEM;
    }
    stats_prefix_enable(srv->prefix, srv->cfg->detail_enabled);
    rc = server_setup_ring(srv);
    if (rc != RC_OK) {
        return rc;
    }
    srv->sig_ev[0] = evsignal_new(srv->base, SIGTERM, server_signal_cb, srv);
    srv->sig_ev[1] = evsignal_new(srv->base, SIGINT, server_signal_cb, srv);
    if (srv->sig_ev[0] == NULL || srv->sig_ev[1] == NULL || event_add(srv->sig_ev[0], NULL) ||
        event_add(srv->sig_ev[1], NULL)) {
        return RC_ENOMEM;
    }
    rc = server_setup_auth(srv);
    if (rc != RC_OK) {
        return rc;
    }
    if (srv->cfg->npeers > 0) {
        rc = cluster_srv_create(srv, &srv->cluster);
        if (rc != RC_OK) {
            return rc;
        }
    }
    srv->workers = rc_calloc((size_t)srv->cfg->threads, sizeof(*srv->workers));
    if (srv->workers == NULL) {
        return RC_ENOMEM;
    }
    for (int i = 0; i < srv->cfg->threads; i++) {
        srv->nworkers = i + 1;
        rc = worker_init(srv, &srv->workers[i], i);
        if (rc != RC_OK) {
            return rc;
        }
    }
    rc = srv->cfg->unix_socket ? server_bind_unix(srv) : server_bind_tcp(srv);
    if (rc == RC_OK) {
        rc = server_write_port_file(srv);
    }
    return rc;
}

int
server_create(const struct config *cfg, struct coord *co, struct server **out)
{
    struct server *srv;
    int rc;

    if (evthread_use_pthreads() != 0) {
        return RC_EINTERNAL;
    }
    srv = rc_calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return RC_ENOMEM;
    }
    srv->cfg = cfg;
    srv->co = co;
    srv->st = coord_store(co);
    srv->started = util_now_s();
    rc = server_setup(srv);
    if (rc != RC_OK) {
        server_destroy(srv);
        return rc;
    }
    *out = srv;
    return RC_OK;
}

int
server_run(struct server *srv)
{
    int started = 0, rc = RC_OK;

    for (int i = 0; i < srv->nworkers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            rc = RC_ENOMEM;
            atomic_store(&srv->stopping, true);
            break;
        }
        started++;
    }
    if (rc == RC_OK && srv->cluster != NULL) {
        rc = cluster_srv_start(srv->cluster);
        if (rc != RC_OK) {
            log_error("cannot start the peer transport: %s", rc_strerror(rc));
            atomic_store(&srv->stopping, true);
        }
    }
    if (rc == RC_OK) {
        log_info("ringcached %s ready: %d worker threads", RC_VERSION_STRING, srv->nworkers);
        event_base_dispatch(srv->base);
    }
    for (size_t i = 0; i < srv->nlisteners; i++) {
        evconnlistener_free(srv->listeners[i]);
    }
    srv->nlisteners = 0;
    atomic_store(&srv->stopping, true);
    for (int i = 0; i < started; i++) {
        event_active(srv->workers[i].notify_ev, EV_READ, 0);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(srv->workers[i].thread, NULL);
    }
    /* Fail what is still in flight with peers; the workers' queues take the
     * completions, drained when the workers are torn down. */
    cluster_srv_stop(srv->cluster);
    return rc;
}

void
server_destroy(struct server *srv)
{
    if (srv == NULL) {
        return;
    }
    for (size_t i = 0; i < srv->nlisteners; i++) {
        evconnlistener_free(srv->listeners[i]);
    }
    rc_free(srv->listeners);
    cluster_srv_stop(srv->cluster);
    for (int i = 0; i < srv->nworkers; i++) {
        /* The store's sync thread runs until the store closes, after this:
         * it must not wake a worker that is gone. */
        store_sync_unsubscribe(srv->st, worker_sync_notify, &srv->workers[i]);
        worker_deinit(&srv->workers[i]);
    }
    rc_free(srv->workers);
    cluster_srv_destroy(srv->cluster);
    for (int i = 0; i < 2; i++) {
        if (srv->sig_ev[i] != NULL) {
            event_free(srv->sig_ev[i]);
        }
    }
    stats_prefix_destroy(srv->prefix);
    if (srv->hup_ev != NULL) {
        event_free(srv->hup_ev);
    }
    auth_destroy(srv->auth);
    ring_destroy(srv->ring);
    if (srv->cfg->unix_socket != NULL && srv->nworkers > 0) {
        unlink(srv->cfg->unix_socket);
    }
    if (srv->base != NULL) {
        event_base_free(srv->base);
    }
    rc_free(srv);
}
