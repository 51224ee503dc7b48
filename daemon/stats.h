#pragma once
/* The daemon's own counters, written by the event-loop thread and read by the HTTP threads (for
 * /metrics and STATUS=). Relaxed atomics: each counter is independent. */

#include <stdatomic.h>

#include "macro.h"

typedef struct DaemonStats {
        atomic_uint_fast64_t frames_received;
        atomic_uint_fast64_t samples_received;
        atomic_uint_fast64_t samples_stored;      /* new rows committed (counted when the commit succeeds) */
        atomic_uint_fast64_t samples_duplicate;   /* resends (sequence number already stored or pending) */
        atomic_uint_fast64_t samples_time_shifted; /* stored at the next free millisecond (clock went back) */
        atomic_uint_fast64_t samples_rejected;    /* absurd values */
        atomic_uint_fast64_t hellos_refused;
        atomic_uint_fast64_t connections_refused; /* accept failed, or the agents' budget was full */
        atomic_uint_fast64_t connections_evicted; /* unauthenticated, pushed out by newer over budget */
        atomic_uint_fast64_t hello_timeouts;      /* no Hello within INGEST_HELLO_TIMEOUT_MS */
        atomic_uint_fast64_t protocol_errors;     /* bad frames, garbage, oversized */
        atomic_uint_fast64_t commits;
        atomic_uint_fast64_t commit_errors;
        atomic_int commit_failing_errno;          /* gauge: errno of the last commit while they fail, else 0 */
        atomic_uint_fast64_t agents_connected;    /* gauge */
        atomic_uint_fast64_t bbb_polls;
        atomic_uint_fast64_t bbb_poll_errors;
        atomic_uint_fast64_t http_requests;
        atomic_uint_fast64_t http_header_timeouts;  /* closed: request headers not complete in time */
        atomic_uint_fast64_t http_connections_shed; /* closed: the longest-waiting one, too many waited */
} DaemonStats;

extern DaemonStats daemon_stats;

#define STATS_INC(field) atomic_fetch_add_explicit(&daemon_stats.field, 1, memory_order_relaxed)
#define STATS_ADD(field, n) atomic_fetch_add_explicit(&daemon_stats.field, (n), memory_order_relaxed)
#define STATS_SUB(field, n) atomic_fetch_sub_explicit(&daemon_stats.field, (n), memory_order_relaxed)
#define STATS_GET(field) atomic_load_explicit(&daemon_stats.field, memory_order_relaxed)
