#pragma once
/* Slow-client protection for the HTTP server (libmicrohttpd's own timeout is an idle timeout, reset by
 * every byte, so a client sending one header line every few seconds holds its slot for ever).
 *
 * The guard follows every connection through libmicrohttpd's notifications. A connection is "waiting"
 * from when it is opened, or its previous request was answered (keep-alive), until its next request's
 * headers are complete. Two rules, both acting by shutdown() on the socket so that libmicrohttpd closes
 * the connection itself in its own thread:
 *   - a total deadline: a connection waiting longer than deadline_ms is closed (however it trickles);
 *   - a budget: when more than max_waiting connections wait, the one waiting longest is closed, so a
 *     new client always gets in and slow ones cannot hold the slots.
 * Counted in daemon_stats (http_header_timeouts, http_connections_shed). docs/reliability.md. */

#include <microhttpd.h>

#include "macro.h"

typedef struct HttpGuard HttpGuard;

/* Starts the guard's timer thread. Returns 0, -ENOMEM or -errno of pthread_create(). */
int http_guard_new(unsigned max_waiting, unsigned deadline_ms, HttpGuard **ret);
/* Stops the thread and frees everything. Call after MHD_stop_daemon(). Takes NULL. */
HttpGuard *http_guard_free(HttpGuard *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpGuard *, http_guard_free)

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the guard. */
void http_guard_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                  enum MHD_ConnectionNotificationCode code);
/* To call from the access handler at the first call of each request: the headers are complete. */
void http_guard_request_started(HttpGuard *g, struct MHD_Connection *c);
/* MHD_OPTION_NOTIFY_COMPLETED callback; cls is the guard: the connection waits for its next request. */
void http_guard_request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                                  enum MHD_RequestTerminationCode toe);
