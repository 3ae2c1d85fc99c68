/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * conn.h - one client connection: read, parse, execute through the
 * coordinator, order the replies, write. Lives on one worker thread for its
 * whole life; every function here runs on that thread.
 */
#ifndef RC_SERVER_CONN_H
#define RC_SERVER_CONN_H

#include <stdint.h>

struct worker;
struct conn;

/* Adopt an accepted, non-blocking socket. On failure the fd is closed. */
int conn_create(struct worker *w, int fd);
void conn_close(struct conn *c);
/* Durability progressed: release replies whose writes are now on disk. */
void conn_on_sync(struct conn *c);
/* Once a second: idle timeout, stop handling. */
void conn_on_tick(struct conn *c, uint64_t now_ms);
/* The worker is stopping: read no more requests, close once replies are out. */
void conn_begin_stop(struct conn *c);
struct conn *conn_next(struct conn *c);

#endif
