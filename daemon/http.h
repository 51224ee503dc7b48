#pragma once
/* The HTTP face: libmicrohttpd with its own threads, each with a read-only SQLite connection (WAL lets
 * them read while the event loop writes), so HTTP work never stalls ingest.
 * Used by daemon/main.c. */

#include "config.h"
#include "live.h"
#include "macro.h"

typedef struct Http Http;

/* Starts serving on c->http (or on listen_fd when >= 0, a socket passed by systemd). c must outlive the
 * Http: the capacity routes read its thresholds and experiments. db_path is the
 * daemon's database, opened read-only per thread; live (or NULL) answers /latest without it and must
 * outlive the Http. On success the Http owns listen_fd (closed by
 * http_free()); on failure the caller still does. Refuses (-EPERM) to listen beyond loopback without
 * c->http_token. */
int http_new(const Config *c, const char *db_path, Live *live, int listen_fd, Http **ret);
Http *http_free(Http *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Http *, http_free)
/* After a reload: the capacity routes read c from now on (the old one must stay alive: a request may
 * still be reading it). */
void http_set_config(Http *h, const Config *c);
/* The port actually bound (for c->http with port 0 in tests). */
unsigned http_port(const Http *h);
