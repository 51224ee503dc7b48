#pragma once
/* The ingest side of seatmeterd: listening sockets (unix, tcp, vsock, or passed by systemd), one
 * non-blocking connection per agent on the sd-event loop, the wire protocol (Hello -> Welcome, Samples ->
 * Acks), trust (socket permissions for unix peers, SHA-256 token hashes for tcp and vsock), clock offsets,
 * BBB correlation, and batched commits: an Ack is sent only once what it covers is on disk.
 *
 * Policy decisions (see docs/daemon.md):
 *   - a sample with absurd values (ingest_sample_check() gives the reason, or a time far in the future) is
 *     counted, logged once per connection, not stored, and the connection stays open: the next Ack
 *     covers it so the agent drops it instead of resending it forever;
 *   - garbage, an oversized frame or a frame out of protocol closes that connection only;
 *   - a Hello for an id that is already connected replaces the old connection when it comes from the
 *     same machine (same non-empty machine_id: a reconnect that arrived before the old socket's EOF),
 *     and is refused with "already connected" otherwise. */

#include <systemd/sd-event.h>

#include "bbb.h"
#include "config.h"
#include "macro.h"
#include "store.h"

/* Admission (docs/reliability.md): agents that passed their Hello, and connections that have not (yet),
 * have separate budgets, the latter per transport, so strangers on tcp can never crowd out agents, on
 * unix or anywhere. An unauthenticated connection over budget pushes out the oldest one of its
 * transport (or of its address, over the per-address limit): a flood cannot hold the slots, and an
 * agent's Hello, sent at once after connect, gets through. */
#define INGEST_AGENTS_MAX 4096            /* agents connected at once; more are refused at Hello */
#define INGEST_UNAUTH_MAX 512             /* connections before an accepted Hello, per transport */
#define INGEST_UNAUTH_PER_ADDRESS 128     /* of those, from one tcp address or vsock CID */
#define INGEST_HELLO_FRAME_MAX (16 * 1024) /* largest frame before an accepted Hello */
#define INGEST_OUTPUT_MAX (256 * 1024)    /* bytes queued for one peer (Welcome, Acks) before it is dropped */
#define INGEST_READ_BUDGET (256 * 1024)   /* bytes read from one connection per wakeup, for fairness */
#define INGEST_COMMIT_PENDING_MAX 10000   /* commit at once when this many samples are pending */
#define INGEST_HELLO_TIMEOUT_MS 5000      /* a connection must send Hello within this */
#define INGEST_CLOSE_TIMEOUT_MS 5000      /* a refused peer gets this long to read its Welcome */
#define INGEST_TOKEN_MAX 1024             /* longest token in a Hello */
#define INGEST_URI_MAX 300                /* longest URI description of a listener or peer */
#define INGEST_RETENTION_STEP_ROWS 2000   /* rows deleted per retention step */

typedef struct Ingest Ingest;

/* Creates the ingest state on event. store and poller (which may be NULL: no BBB correlation) must
 * outlive it; c too, until ingest_set_config() replaces it. */
int ingest_new(sd_event *event, Store *store, BbbPoller *poller, const Config *c, Ingest **ret);
/* Closes every connection and listener (without committing: see ingest_shutdown()). Takes NULL. */
Ingest *ingest_free(Ingest *in);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ingest *, ingest_free)

/* Binds and listens on uri (unix:PATH, tcp:HOST:PORT, vsock:CID:PORT). A stale unix socket is
 * replaced; one a live daemon answers on is -EADDRINUSE. Returns 0 and, in *ret_uri (caller frees),
 * the URI as bound (the real port when 0 was asked for). -EAFNOSUPPORT for vsock on a kernel without it. */
int ingest_listen(Ingest *in, const char *uri, char **ret_uri);
/* Takes over a listening stream socket passed by systemd (AF_UNIX, AF_INET, AF_INET6 or AF_VSOCK).
 * Takes ownership of fd, also on failure. Returns 0 and its URI in *ret_uri (caller frees). */
int ingest_add_fd(Ingest *in, int fd, char **ret_uri);

/* A new configuration after SIGHUP: agents' tokens and BBB servers are looked up in it from now on.
 * Connected agents stay connected unless their token no longer matches (then they are closed). */
void ingest_set_config(Ingest *in, const Config *c);
/* Sets the poller (after it was created) or NULL. */
void ingest_set_poller(Ingest *in, BbbPoller *poller);

/* Orderly stop: stops accepting, commits what is pending, sends the final Acks, flushes them (for at most
 * timeout_ms in total) and closes every connection. Returns the result of the commit. */
int ingest_shutdown(Ingest *in, unsigned timeout_ms);

/* Commits what is pending now and sends the Acks. */
int ingest_commit(Ingest *in);

/* Agents currently connected (after an accepted Hello). */
unsigned ingest_n_agents(const Ingest *in);
