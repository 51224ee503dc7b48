#pragma once
/* BigBlueButton poller: per configured server, getMeetings every interval_s on the sd-event loop, with
 * libcurl's multi interface driven by the loop (no threads). Results go to the store and are kept in
 * memory for correlation. Used by daemon/main.c and daemon/ingest.c. */

#include <systemd/sd-event.h>

#include "bbb-counts.h"
#include "config.h"
#include "macro.h"
#include "store.h"

#define BBB_URL_MAX 8192                /* a request URL, checksum included */
#define BBB_QUERY_MAX 4096              /* the query string given to bbb_build_url() */
#define BBB_CALL_MAX 64                 /* an API call name ("getMeetings") */

typedef struct BbbPoller BbbPoller;

/* Starts polling every server of c on event. The poller keeps pointers into c, which must outlive it.
 * (This implementation copies what it needs: name, url, interval and the checksummed request URL, so
 * c may be freed after a reload.) store may be NULL: results are then only kept in memory. */
int bbb_poller_new(sd_event *event, const Config *c, Store *store, BbbPoller **ret);
BbbPoller *bbb_poller_free(BbbPoller *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(BbbPoller *, bbb_poller_free)
/* Replaces the server list after a config reload (SIGHUP): new servers start, removed ones stop. */
int bbb_poller_reload(BbbPoller *p, const Config *c);

/* Participant count of server name at time_ms (daemon clock) when a poll is fresh (within 2 intervals)
 * and the server is up. The one owner of that answer: from the newest polls held in memory, else from
 * the stored ones (store_bbb_polls_at()). Returns 1 and *ret when known, 0 when unknown. */
int bbb_poller_users_at(BbbPoller *p, const char *name, int64_t time_ms, int64_t *ret);
/* The same, with the poll's listeners, voice and video (the participant mix of the per-stream model). */
int bbb_poller_counts_at(BbbPoller *p, const char *name, int64_t time_ms, StoreCounts *ret);

/* Number of servers currently up, for STATUS=. */
unsigned bbb_poller_n_up(const BbbPoller *p);

#define BBB_ERROR_MAX 256 /* the text kept of a failed poll */

/* A server's state as the poller sees it (event-loop thread only). counts are valid only when up. */
typedef struct BbbServerState {
        bool up;                 /* false before the first success and after 2 failures in a row */
        bool down;               /* judged down (2 failures in a row); both false: not judged yet */
        unsigned failures;       /* consecutive failures */
        int64_t last_poll_ms, last_ok_ms; /* 0: never */
        uint64_t polls, errors;  /* since the server was added */
        BbbCounts counts;        /* of the last successful poll */
        char error[BBB_ERROR_MAX]; /* of the last failed poll, "" after a success */
} BbbServerState;

/* Copies the state of server name into *ret. Returns 0, or -ENOENT when no such server is polled. */
int bbb_poller_get_state(const BbbPoller *p, const char *name, BbbServerState *ret);

/* Pure parts, unit-tested and fuzzed. */

/* The getMeetings URL for server url with the checksum of algo: url + "api/getMeetings?checksum=" +
 * hex(hash("getMeetings" + query + secret)). Returns a new string. url gets a "/" appended when it lacks
 * one, and "api/" unless it already ends in "/api/". A non-empty query (already URL-encoded) goes first:
 * url + "api/" + call + "?" + query + "&checksum=" + hex. -EINVAL for a url that is not http(s), a call
 * that is not letters, a query with spaces, '#' or control characters; -E2BIG above BBB_URL_MAX. */
int bbb_build_url(const char *url, const char *call, const char *query, const char *secret, ChecksumAlgo algo,
                  char **ret);
