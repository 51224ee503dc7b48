/* See ingest.h. Everything here runs on the event-loop thread. A connection goes through three states:
 * waiting for its Hello, accepted (samples flow, Acks follow commits), and closing (a refused peer gets
 * its Welcome flushed, then the socket is closed). Samples are added to the store's open transaction as
 * they arrive; a timer commits every commit_interval_ms (at once when many are pending), and only then
 * does each connection get an Ack for what it sent before the commit.
 *
 * Why one file of about 1,250 lines: the connection (Conn) is one state machine whose admission, Hello,
 * frame and commit steps all change the same fields and the same budgets (unauthenticated list, per-address
 * counts, eviction); the pure parts are already elsewhere (ingest-validate.c checks a sample or Hello,
 * ingest-wire.c converts the wire types, common/outbuf.c queues output, common/address.c parses addresses).
 * The listeners (ingest_listen() and below) are the part that could go next. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <linux/vm_sockets.h>
#include <openssl/evp.h>

#include "proto/frame.h"
#include "ingest.h"
#include "ingest-validate.h"
#include "ingest-wire.h"
#include "log.h"
#include "outbuf.h"
#include "stats.h"
#include "util.h"

typedef enum ConnState {
        CONN_HELLO,    /* waiting for Hello */
        CONN_ACCEPTED, /* streaming */
        CONN_CLOSING,  /* flushing the last bytes, reading nothing more */
} ConnState;

typedef struct Listener Listener;
typedef struct Conn Conn;

struct Listener {
        Ingest *ingest;
        Listener *next;
        int fd;
        AddressKind transport;
        sd_event_source *io;
        char uri[INGEST_URI_MAX];
        char unlink_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* ours to remove at exit */
};

struct Conn {
        Ingest *ingest;
        Conn *prev, *next;
        int fd;
        AddressKind transport;
        ConnState state;
        sd_event_source *io;
        FrameDecoder *decoder;
        char peer[INGEST_URI_MAX];

        OutBuf out; /* Welcome, Acks */

        int64_t created_ms; /* CLOCK_MONOTONIC, for the Hello and close timeouts */
        int64_t closing_ms;

        /* Unauthenticated connections of one transport, oldest first (admission, see ingest.h). */
        Conn *uprev, *unext;
        bool unauth;
        bool has_addr;
        uint8_t addr[16]; /* tcp: the IPv6 or v4-mapped address; vsock: the CID */
        bool has_cred;    /* unix: SO_PEERCRED */
        uid_t peer_uid;

        char id[CONFIG_NAME_MAX + 1];
        char machine_id[129];
        char bbb[CONFIG_NAME_MAX + 1];
        bool token_checked; /* tcp/vsock: the token hash below was verified */
        uint8_t token_sha256[32];
        int64_t clock_offset_ms;

        bool unacked;         /* samples handled since the last commit */
        uint64_t acked_seq;   /* what the next Ack says: highest sequence number seen */
        bool invalid_logged;
        uint64_t n_samples;
};

struct Ingest {
        sd_event *event;
        Store *store;
        BbbPoller *poller;
        const Config *config;
        Listener *listeners;
        Conn *conns;
        unsigned n_conns, n_agents;
        struct {
                Conn *head, *tail;
                unsigned n;
        } unauth[_ADDRESS_KIND_MAX]; /* by transport */
        sd_event_source *commit_timer;
        SampleBuf sample_buf; /* the sample being stored, converted from the wire (event-loop thread) */
        sd_event_source *sweep_timer;
        sd_event_source *retention_timer;
        bool shutting_down;
        uint64_t stored_uncommitted; /* samples_stored counts them once the commit succeeds */
};

static int64_t mono_ms(void)
{
        return (int64_t)(now_usec(CLOCK_MONOTONIC) / USEC_PER_MSEC);
}

static void unauth_remove(Conn *c)
{
        Ingest *in = c->ingest;

        if (!c->unauth)
                return;
        if (c->uprev)
                c->uprev->unext = c->unext;
        else
                in->unauth[c->transport].head = c->unext;
        if (c->unext)
                c->unext->uprev = c->uprev;
        else
                in->unauth[c->transport].tail = c->uprev;
        in->unauth[c->transport].n--;
        c->uprev = c->unext = NULL;
        c->unauth = false;
}

static void unauth_append(Conn *c)
{
        Ingest *in = c->ingest;

        c->uprev = in->unauth[c->transport].tail;
        c->unext = NULL;
        if (c->uprev)
                c->uprev->unext = c;
        else
                in->unauth[c->transport].head = c;
        in->unauth[c->transport].tail = c;
        in->unauth[c->transport].n++;
        c->unauth = true;
}

/* Closes c at once and frees it; conn_close() also ends an accepted agent's session first. */
static void conn_free(Conn *c)
{
        Ingest *in;

        if (!c)
                return;
        in = c->ingest;
        unauth_remove(c);
        if (c->prev)
                c->prev->next = c->next;
        else if (in->conns == c)
                in->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        in->n_conns--;
        c->io = sd_event_source_disable_unref(c->io);
        c->fd = safe_close(c->fd);
        frame_decoder_free(c->decoder);
        outbuf_done(&c->out);
        free(c);
}

/* Ends an accepted agent's session: counted, logged, recorded in the store. */
static void conn_end_session(Conn *c, const char *why)
{
        Ingest *in = c->ingest;
        int r;

        if (c->state != CONN_ACCEPTED)
                return;
        in->n_agents--;
        STATS_SUB(agents_connected, 1);
        log_agent(LOG_INFO, 0, c->id, "Agent '%s' disconnected (%s): %s.", c->id, c->peer, why);
        r = store_agent_disconnected(in->store, c->id, now_ms());
        if (r < 0)
                log_agent(LOG_WARNING, r, c->id, "Failed to record disconnection of '%s': %m", c->id);
}

static void conn_close(Conn *c, const char *why)
{
        conn_end_session(c, why);
        conn_free(c);
}

static int conn_update_events(Conn *c)
{
        /* Always reading: a closing connection drains (and drops) what its peer still sends, so that
         * closing it does not reset the connection before the peer has read its Welcome. */
        return sd_event_source_set_io_events(c->io, EPOLLIN | (outbuf_pending(&c->out) > 0 ? EPOLLOUT : 0));
}

/* Queues one frame and tries to send it at once. -ENOBUFS when the peer does not read its Acks. */
static int conn_send(Conn *c, const Seatmeter__Frame *f)
{
        size_t need = frame_encoded_size(f), written;
        uint8_t *p;
        int r;

        r = outbuf_reserve(&c->out, need, INGEST_OUTPUT_MAX, &p);
        if (r < 0)
                return r;
        r = frame_encode_into(f, p, need, &written);
        if (r < 0)
                return r;
        outbuf_commit(&c->out, written);
        r = outbuf_flush(&c->out, c->fd);
        if (r < 0)
                return r;
        return conn_update_events(c);
}

/* Sends a Welcome{accepted=false} and moves to CLOSING: once it is flushed the write side is shut, the
 * rest of the input is dropped, and the sweep timer or the peer's EOF ends the connection. Nothing this
 * peer sent is kept. Returns -EPERM, or -errno when c was freed at once (write error). */
static int conn_send_refusal(Conn *c, const char *reason)
{
        Seatmeter__Frame f = SEATMETER__FRAME__INIT;
        Seatmeter__Welcome w = SEATMETER__WELCOME__INIT;
        int r;

        w.has_accepted = true;
        w.accepted = false;
        w.reason = (char *)reason;
        w.has_clock_ms = true;
        w.clock_ms = now_ms();
        w.has_protocol_version = true;
        w.protocol_version = FRAME_PROTOCOL_VERSION;
        f.msg_case = SEATMETER__FRAME__MSG_WELCOME;
        f.welcome = &w;
        c->state = CONN_CLOSING;
        c->closing_ms = mono_ms();
        r = conn_send(c, &f);
        if (r < 0) {
                conn_free(c);
                return r;
        }
        if (outbuf_pending(&c->out) == 0)
                (void)shutdown(c->fd, SHUT_WR);
        return -EPERM;
}

/* Refuses a Hello: counted, logged, answered. Returns <0 (see conn_send_refusal()). */
static int conn_refuse(Conn *c, const char *id, const char *reason)
{
        STATS_INC(hellos_refused);
        log_agent(LOG_WARNING, 0, isempty(id) ? NULL : id, "Refused Hello from '%s' (%s): %s.", strna(id), c->peer,
                  reason);
        return conn_send_refusal(c, reason);
}

/* A protocol error: before the Hello was accepted, the peer gets a Welcome saying why; after, the
 * connection is closed at once. */
static void conn_protocol_error(Conn *c, int error, const char *what)
{
        STATS_INC(protocol_errors);
        if (c->state == CONN_HELLO) {
                log_full_errno(LOG_WARNING, error, "Protocol error from %s: %s.", c->peer, what);
                (void)conn_send_refusal(c, what);
                return;
        }
        log_agent(LOG_WARNING, error, c->id[0] ? c->id : NULL, "Protocol error from '%s' (%s): %s; closing.",
                  strna(c->id[0] ? c->id : NULL), c->peer, what);
        conn_close(c, what);
}


static bool hello_string_ok(const char *s, size_t max)
{
        return !s || strnlen(s, max + 1) <= max;
}

static void sha256(const void *data, size_t size, uint8_t ret[32])
{
        unsigned n = 32;

        if (EVP_Digest(data, size, ret, &n, EVP_sha256(), NULL) != 1)
                memset(ret, 0, 32); /* cannot happen with the built-in provider; all-zero never matches */
}

static Conn *ingest_find_agent(Ingest *in, const char *id, const Conn *except)
{
        for (Conn *c = in->conns; c; c = c->next)
                if (c != except && c->state == CONN_ACCEPTED && streq(c->id, id))
                        return c;
        return NULL;
}

/* Returns 0 when accepted, <0 when refused (c is closing or gone). */
static int conn_handle_hello(Conn *c, const Seatmeter__Hello *h)
{
        Ingest *in = c->ingest;
        Seatmeter__Frame f = SEATMETER__FRAME__INIT;
        Seatmeter__Welcome w = SEATMETER__WELCOME__INIT;
        const AgentConfig *ac;
        StoreAgentInfo info = {0};
        AgentHello hello;
        int64_t last_time_ms = 0;
        uint64_t last_seq = 0;
        Conn *old;
        const char *why = NULL;
        char reason[160];
        int r;

        if (!h->has_protocol_version || h->protocol_version != FRAME_PROTOCOL_VERSION) {
                snprintf(reason, sizeof reason, "unsupported protocol version %u (this daemon speaks %u)",
                         h->has_protocol_version ? h->protocol_version : 0, FRAME_PROTOCOL_VERSION);
                return conn_refuse(c, NULL, reason);
        }
        if (!id_is_valid(h->agent_id))
                return conn_refuse(c, NULL, "invalid agent id (expected [A-Za-z0-9._-]{1,64})");
        if (!hello_string_ok(h->token, INGEST_TOKEN_MAX) || !hello_string_ok(h->machine_id, sizeof c->machine_id - 1))
                return conn_refuse(c, h->agent_id, "invalid Hello: token or machine_id too long");
        r = ingest_hello_check(h, &why);
        if (r < 0) {
                snprintf(reason, sizeof reason, "invalid Hello: %s", strna(why));
                return conn_refuse(c, h->agent_id, reason);
        }

        ac = config_find_agent(in->config, h->agent_id);
        /* Over unix the socket's file permissions admit a peer; an id bound to a uid (peer_uid) takes
         * only that uid (SO_PEERCRED, as the daemon's user namespace sees it). */
        if (c->transport == ADDRESS_UNIX && ac && ac->peer_uid != CONFIG_PEER_UID_NONE &&
            (!c->has_cred || c->peer_uid != (uid_t)ac->peer_uid))
                return conn_refuse(c, h->agent_id, "peer uid not allowed for this agent id");
        if (c->transport != ADDRESS_UNIX || (ac && ac->has_token)) {
                uint8_t hash[32];

                /* Over tcp and vsock the token is the only proof of identity; over unix too for an id
                 * that has one, so that any process that can reach the socket (a container it is
                 * bind-mounted into) cannot speak for that id. */
                if (isempty(h->token))
                        return conn_refuse(c, h->agent_id,
                                           c->transport == ADDRESS_UNIX ? "token required for this agent id"
                                                                          : "token required over tcp and vsock");
                sha256(h->token, strlen(h->token), hash);
                if (!ac || !ac->has_token || !memeq_consttime(hash, ac->token_sha256, sizeof hash))
                        return conn_refuse(c, h->agent_id, "authentication failed");
                memcpy(c->token_sha256, hash, sizeof hash);
                c->token_checked = true;
        }

        old = ingest_find_agent(in, h->agent_id, c);
        if (!old && in->n_agents >= INGEST_AGENTS_MAX) {
                STATS_INC(connections_refused);
                return conn_refuse(c, h->agent_id, "too many agents connected, try again later");
        }
        if (old) {
                /* Only the same agent may replace its live session: the same machine, proven by the
                 * same token, or (an id with no token) the same unix peer uid. Anyone else, whatever
                 * machine id it claims, is refused. */
                bool same = c->token_checked
                                    ? old->token_checked && memeq_consttime(old->token_sha256, c->token_sha256, 32)
                                    : !old->token_checked && c->transport == ADDRESS_UNIX &&
                                              old->transport == ADDRESS_UNIX && c->has_cred && old->has_cred &&
                                              c->peer_uid == old->peer_uid;

                if (!same || isempty(h->machine_id) || !streq(old->machine_id, h->machine_id))
                        return conn_refuse(c, h->agent_id, "already connected");
                /* The same machine again: a reconnect that arrived before the old socket's EOF (a
                 * half-open tcp connection after a network change, an agent restarted in a hurry). The
                 * newer connection wins; what the old one sent stays in the open transaction and
                 * is committed with the next batch. */
                log_agent(LOG_NOTICE, 0, old->id, "Agent '%s' reconnected from %s; dropping its old connection %s.",
                          old->id, c->peer, old->peer);
                conn_close(old, "replaced by a new connection");
        }

        snprintf(c->id, sizeof c->id, "%s", h->agent_id);
        snprintf(c->machine_id, sizeof c->machine_id, "%s", strempty(h->machine_id));
        snprintf(c->bbb, sizeof c->bbb, "%s", ac ? ac->bbb : "");
        w.clock_ms = now_ms();
        /* An agent clock outside (0, INT64_MAX/4] is nonsense: no correction rather than an overflow. */
        c->clock_offset_ms = h->has_clock_ms && h->clock_ms > 0 && h->clock_ms <= INT64_MAX / 4
                                     ? w.clock_ms - h->clock_ms
                                     : 0;

        hello_from_wire(h, &hello);
        info.id = c->id;
        info.hello = &hello;
        info.transport = address_kind_to_string(c->transport);
        info.bbb = c->bbb[0] ? c->bbb : NULL;
        info.clock_offset_ms = c->clock_offset_ms;
        info.stream = h->has_stream ? h->stream : 0;
        info.now_ms = w.clock_ms;
        r = store_agent_hello(in->store, &info, &last_time_ms, &last_seq);
        if (r < 0) {
                log_agent(LOG_ERR, r, c->id, "Failed to record Hello of '%s': %m", c->id);
                c->id[0] = 0;
                return conn_refuse(c, h->agent_id, "daemon storage error, try again later");
        }

        c->state = CONN_ACCEPTED;
        unauth_remove(c);
        (void)frame_decoder_set_max(c->decoder, FRAME_MAX_SIZE);
        /* Agents' samples and Acks go before anything strangers send. */
        (void)sd_event_source_set_priority(c->io, SD_EVENT_PRIORITY_IMPORTANT);
        in->n_agents++;
        STATS_ADD(agents_connected, 1);
        log_agent(LOG_INFO, 0, c->id,
                  "Agent '%s' connected over %s (%s), host '%s', clock offset %" PRIi64 " ms, resuming after "
                  "seq %" PRIu64 " of stream %016" PRIx64 " (newest stored time %" PRIi64 ").",
                  c->id, address_kind_to_string(c->transport), c->peer, strempty(h->hostname), c->clock_offset_ms,
                  last_seq, info.stream, last_time_ms);

        /* Only the sequence number: a time the agent would drop by can come from a wrong clock. */
        w.has_accepted = w.has_clock_ms = w.has_last_seq = w.has_protocol_version = true;
        w.accepted = true;
        w.last_seq = last_seq;
        w.protocol_version = FRAME_PROTOCOL_VERSION;
        f.msg_case = SEATMETER__FRAME__MSG_WELCOME;
        f.welcome = &w;
        r = conn_send(c, &f);
        if (r < 0) {
                conn_close(c, "cannot send Welcome");
                return r;
        }
        return 0;
}

/* A time the daemon can use: positive, and (clock-corrected) at most STORE_FUTURE_MAX_MS (one day, the
 * store's limit) ahead. The offset is bounded by conn_handle_hello(), so the sum cannot overflow. */
static bool sample_time_is_sane(const Conn *c, const Seatmeter__Sample *s, int64_t now)
{
        return s->has_time_ms && s->time_ms > 0 && s->time_ms <= INT64_MAX / 2 &&
               s->time_ms + c->clock_offset_ms <= now + STORE_FUTURE_MAX_MS;
}

/* The one check of an incoming sample: its values within the store's limits (ingest_sample_check()), a
 * seq, and a time that is sane after the connection's clock correction. Returns 0, or -EINVAL with
 * *ret_reason saying why. */
static int sample_validate(const Conn *c, const Seatmeter__Sample *s, int64_t now, const char **ret_reason)
{
        int r;

        r = ingest_sample_check(s, now, ret_reason);
        if (r < 0)
                return r;
        if (!s->has_seq) {
                *ret_reason = "seq missing";
                return -EINVAL;
        }
        if (!sample_time_is_sane(c, s, now)) {
                *ret_reason = "time_ms far in the future or missing";
                return -EINVAL;
        }
        return 0;
}

/* Participants (and their mix) of the agent's BBB server at the (clock-corrected) time of the sample,
 * as the poller answers it (from its memory or the stored polls); users -1 if unknown. */
static StoreCounts sample_counts(Conn *c, int64_t t)
{
        static const StoreCounts unknown = { .users = -1, .listeners = -1, .voice = -1, .video = -1 };
        Ingest *in = c->ingest;
        StoreCounts counts;

        if (!c->bbb[0] || !in->poller || bbb_poller_counts_at(in->poller, c->bbb, t, &counts) <= 0)
                return unknown;
        return counts.users > INT32_MAX ? unknown : counts;
}

/* Returns 0, or <0 when the connection was closed. */
static int conn_handle_sample(Conn *c, const Seatmeter__Sample *s, int64_t now)
{
        Ingest *in = c->ingest;
        const char *why = NULL;
        int r;

        STATS_INC(samples_received);
        c->n_samples++;
        r = sample_validate(c, s, now, &why);
        if (r >= 0) {
                StoreCounts counts = sample_counts(c, s->time_ms + c->clock_offset_ms);

                sample_from_wire(s, &in->sample_buf);
                r = store_add_sample_counts(in->store, c->id, &in->sample_buf.sample, &counts);
        }
        if (r == -EINVAL) {
                STATS_INC(samples_rejected);
                if (!c->invalid_logged) {
                        log_agent(LOG_WARNING, 0, c->id,
                                  "Agent '%s' sent a sample with absurd values (seq %" PRIu64 ", time %" PRIi64
                                  "): %s; not stored (further ones on this connection are only counted).",
                                  c->id, s->seq, s->time_ms, strna(why));
                }
                c->invalid_logged = true;
        } else if (r < 0) {
                log_agent(LOG_ERR, r, c->id, "Failed to store a sample of '%s': %m", c->id);
                conn_close(c, "storage error");
                return r;
        } else if (r > 0) {
                in->stored_uncommitted++;
                if (r == 2)
                        STATS_INC(samples_time_shifted);
        } else
                STATS_INC(samples_duplicate);

        /* Rejected and duplicate samples are acknowledged too: they need no resend. The agent drops what
         * an Ack covers by sequence number only: no time, which a clock running ahead could make cover
         * samples never sent. */
        if (s->has_seq && s->seq > c->acked_seq)
                c->acked_seq = s->seq;
        c->unacked = true;
        return 0;
}

static void ingest_schedule_commit(Ingest *in)
{
        int enabled = SD_EVENT_OFF;

        (void)sd_event_source_get_enabled(in->commit_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void)sd_event_source_set_time_relative(in->commit_timer,
                                                (uint64_t)in->config->commit_interval_ms * USEC_PER_MSEC);
        (void)sd_event_source_set_enabled(in->commit_timer, SD_EVENT_ONESHOT);
}

/* Handles one frame. Returns 0, or <0 when the connection was closed or is closing. */
static int conn_handle_frame(Conn *c, Seatmeter__Frame *f, int64_t now)
{
        STATS_INC(frames_received);
        if (c->state == CONN_HELLO) {
                if (f->msg_case != SEATMETER__FRAME__MSG_HELLO) {
                        conn_protocol_error(c, EPROTO, "expected Hello first");
                        return -EPROTO;
                }
                return conn_handle_hello(c, f->hello);
        }

        switch (f->msg_case) {
        case SEATMETER__FRAME__MSG_SAMPLE:
                return conn_handle_sample(c, f->sample, now);
        case SEATMETER__FRAME__MSG_BATCH:
                for (size_t i = 0; i < f->batch->n_samples; i++) {
                        int r = conn_handle_sample(c, f->batch->samples[i], now);
                        if (r < 0)
                                return r;
                }
                return 0;
        default:
                conn_protocol_error(c, EPROTO, "unexpected message after Hello");
                return -EPROTO;
        }
}

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Conn *c = userdata;
        Ingest *in = c->ingest;
        size_t budget = INGEST_READ_BUDGET;
        int64_t now = now_ms();
        int r;

        if (revents & EPOLLOUT) {
                r = outbuf_flush(&c->out, c->fd);
                if (r < 0) {
                        conn_close(c, "write failed");
                        return 0;
                }
                if (c->state == CONN_CLOSING && outbuf_pending(&c->out) == 0)
                        (void)shutdown(c->fd, SHUT_WR);
                (void)conn_update_events(c);
        }

        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;

        if (c->state == CONN_CLOSING) {
                char drop[4096];
                for (unsigned i = 0; i < 16; i++) {
                        ssize_t n = recv(c->fd, drop, sizeof drop, MSG_DONTWAIT);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                return 0;
                        if (n <= 0) {
                                conn_free(c);
                                return 0;
                        }
                }
                return 0;
        }

        while (budget > 0 && c->state != CONN_CLOSING) {
                Seatmeter__Frame *f;
                void *space;
                size_t size;
                ssize_t n;

                r = frame_decoder_reserve(c->decoder, c->state == CONN_ACCEPTED ? 64 * 1024 : INGEST_HELLO_FRAME_MAX,
                                          &space, &size);
                if (r < 0) {
                        conn_protocol_error(c, r, "too much buffered input");
                        return 0;
                }
                n = recv(c->fd, space, MIN(size, budget), MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        conn_close(c, "read failed");
                        return 0;
                }
                if (n == 0) {
                        if (frame_decoder_pending(c->decoder) > 0) {
                                STATS_INC(protocol_errors);
                                log_agent(LOG_WARNING, 0, c->id[0] ? c->id : NULL,
                                          "Connection %s ended inside a frame (%zu bytes pending).", c->peer,
                                          frame_decoder_pending(c->decoder));
                        }
                        conn_close(c, "closed by peer");
                        return 0;
                }
                frame_decoder_advance(c->decoder, (size_t)n);
                budget -= (size_t)n;

                for (;;) {
                        r = frame_decoder_next(c->decoder, &f);
                        if (r == 0)
                                break;
                        if (r < 0) {
                                conn_protocol_error(c, r,
                                                    r == -EMSGSIZE ? "frame over the size limit"
                                                                   : "malformed frame");
                                return 0;
                        }
                        r = conn_handle_frame(c, f, now);
                        seatmeter__frame__free_unpacked(f, NULL);
                        if (r < 0)
                                return 0; /* c may be gone */
                        if (c->state == CONN_CLOSING)
                                break;
                }
        }

        if (store_pending(in->store) >= INGEST_COMMIT_PENDING_MAX)
                (void)ingest_commit(in);
        else if (c->unacked)
                ingest_schedule_commit(in);
        return 0;
}

int ingest_commit(Ingest *in)
{
        int r;

        r = store_commit(in->store);
        if (r < 0) {
                STATS_INC(commit_errors);
                atomic_store(&daemon_stats.commit_failing_errno, -r); /* /healthz says not ok, and why */
                log_error_errno(r, "Failed to commit samples: %m");
                /* Nothing of the failed batch is acknowledged; the store keeps it pending for the next
                 * attempt (store.h), so try again after the usual interval. If the failure persists,
                 * store_add_sample() eventually says -ENOBUFS and the connections are closed: the
                 * agents keep their samples in their spools meanwhile. */
                if (!in->shutting_down)
                        ingest_schedule_commit(in);
                return r;
        }
        STATS_INC(commits);
        STATS_ADD(samples_stored, in->stored_uncommitted);
        in->stored_uncommitted = 0;
        atomic_store(&daemon_stats.commit_failing_errno, 0);
        /* Aggregates not yet flushed (they go in at most every STORE_AGG_INTERVAL_MS): come back, so that
         * the last samples of an agent that falls silent reach the curves too. */
        if (store_has_unflushed(in->store) && !in->shutting_down)
                ingest_schedule_commit(in);

        for (Conn *c = in->conns, *next; c; c = next) {
                Seatmeter__Frame f = SEATMETER__FRAME__INIT;
                Seatmeter__Ack a = SEATMETER__ACK__INIT;

                next = c->next;
                if (!c->unacked || c->state != CONN_ACCEPTED)
                        continue;
                a.has_up_to_seq = true;
                a.up_to_seq = c->acked_seq;
                f.msg_case = SEATMETER__FRAME__MSG_ACK;
                f.ack = &a;
                c->unacked = false;
                r = conn_send(c, &f);
                if (r < 0)
                        conn_close(c, r == -ENOBUFS ? "not reading its Acks" : "write failed");
        }
        return 0;
}

static int on_commit_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void)ingest_commit(userdata);
        return 0;
}

/* Once a second: close connections that never sent a Hello, and refused ones that do not read. */
static int on_sweep_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Ingest *in = userdata;
        int64_t now = mono_ms();

        for (Conn *c = in->conns, *next; c; c = next) {
                next = c->next;
                if (c->state == CONN_HELLO && now - c->created_ms > INGEST_HELLO_TIMEOUT_MS) {
                        STATS_INC(hello_timeouts);
                        log_info("Closing %s: no Hello within %d ms.", c->peer, INGEST_HELLO_TIMEOUT_MS);
                        conn_free(c);
                } else if (c->state == CONN_CLOSING && now - c->closing_ms > INGEST_CLOSE_TIMEOUT_MS)
                        conn_free(c);
        }
        /* Listeners paused after EMFILE get another chance. */
        for (Listener *l = in->listeners; l; l = l->next)
                (void)sd_event_source_set_enabled(l->io, SD_EVENT_ON);
        (void)sd_event_source_set_time_relative(s, USEC_PER_SEC);
        return 0;
}

/* Deletes expired rows in small steps: soon again while there is more, hourly once done. */
static int on_retention_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Ingest *in = userdata;
        int r;

        r = store_retention_step(in->store, now_ms(), in->config->raw_retention_days,
                                 in->config->trend_retention_days, INGEST_RETENTION_STEP_ROWS);
        if (r < 0)
                log_warning_errno(r, "Retention step failed: %m");
        else if (r > 0)
                log_debug("Retention: deleted %d expired rows.", r);
        (void)sd_event_source_set_time_relative(s, r > 0 ? 200 * USEC_PER_MSEC : 3600 * USEC_PER_SEC);
        return 0;
}

static void describe_sockaddr(const struct sockaddr_storage *sa, socklen_t len, char *buf, size_t size)
{
        SocketAddress a;

        if (address_from_sockaddr((const struct sockaddr *)sa, len, &a) < 0)
                snprintf(buf, size, "family %u", sa->ss_family);
        else
                address_to_string(&a, buf, size);
}

/* The address an unauthenticated peer is counted by: tcp by IP (IPv4 as v4-mapped), vsock by CID. */
static void conn_note_address(Conn *c, const struct sockaddr_storage *sa)
{
        memset(c->addr, 0, sizeof c->addr);
        switch (sa->ss_family) {
        case AF_INET: {
                const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
                c->addr[10] = c->addr[11] = 0xff;
                memcpy(c->addr + 12, &in4->sin_addr, 4);
                c->has_addr = true;
                break;
        }
        case AF_INET6:
                memcpy(c->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
                c->has_addr = true;
                break;
        case AF_VSOCK:
                memcpy(c->addr, &((const struct sockaddr_vm *)(const void *)sa)->svm_cid, sizeof(unsigned));
                c->has_addr = true;
                break;
        default:
                c->has_addr = false;
        }
}

static void conn_describe_peer(Conn *c)
{
        struct sockaddr_storage sa = {0};
        socklen_t len = sizeof sa;

        if (c->transport == ADDRESS_UNIX) {
                struct ucred cred;
                socklen_t cl = sizeof cred;
                if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
                        snprintf(c->peer, sizeof c->peer, "unix pid %d uid %u", (int)cred.pid, (unsigned)cred.uid);
                        c->has_cred = true;
                        c->peer_uid = cred.uid;
                } else
                        snprintf(c->peer, sizeof c->peer, "unix");
                return;
        }
        if (getpeername(c->fd, (struct sockaddr *)&sa, &len) < 0)
                snprintf(c->peer, sizeof c->peer, "%s", address_kind_to_string(c->transport));
        else {
                describe_sockaddr(&sa, len, c->peer, sizeof c->peer);
                conn_note_address(c, &sa);
        }
}

static void conn_evict(Conn *victim, const char *why)
{
        STATS_INC(connections_evicted);
        log_debug("Closing %s, not yet authenticated: %s.", victim->peer, why);
        conn_free(victim);
}

/* A new unauthenticated connection enters its transport's budget; over the per-address or the
 * transport's limit, the oldest one (of that address, or of the transport) makes room. */
static void ingest_admit(Conn *c)
{
        Ingest *in = c->ingest;
        Conn *oldest_same = NULL;
        unsigned same = 0;

        if (c->has_addr)
                for (Conn *u = in->unauth[c->transport].head; u; u = u->unext)
                        if (u->has_addr && memcmp(u->addr, c->addr, sizeof c->addr) == 0) {
                                if (!oldest_same)
                                        oldest_same = u;
                                same++;
                        }
        if (same >= INGEST_UNAUTH_PER_ADDRESS)
                conn_evict(oldest_same, "too many from this address");
        if (in->unauth[c->transport].n >= INGEST_UNAUTH_MAX)
                conn_evict(in->unauth[c->transport].head, "too many unauthenticated connections");
        unauth_append(c);
}

static int ingest_add_conn(Ingest *in, int fd_in, AddressKind t)
{
        _cleanup_close_ int fd = fd_in;
        _cleanup_free_ Conn *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->ingest = in;
        c->transport = t;
        c->state = CONN_HELLO;
        c->created_ms = mono_ms();
        r = frame_decoder_new(INGEST_HELLO_FRAME_MAX, &c->decoder);
        if (r < 0)
                return r;
        r = sd_event_add_io(in->event, &c->io, fd, EPOLLIN, conn_io, c);
        if (r < 0) {
                frame_decoder_free(c->decoder);
                return r;
        }
        c->fd = TAKE_FD(fd);
        conn_describe_peer(c);
        c->next = in->conns;
        if (in->conns)
                in->conns->prev = c;
        in->conns = TAKE_PTR(c);
        in->n_conns++;
        log_debug("New connection from %s.", in->conns->peer);
        ingest_admit(in->conns);
        return 0;
}

static int listener_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Listener *l = userdata;
        Ingest *in = l->ingest;

        for (unsigned i = 0; i < 64; i++) {
                int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                int r;

                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        r = negative_errno();
                        STATS_INC(connections_refused);
                        log_warning_errno(r, "Failed to accept on %s: %m", l->uri);
                        /* Out of fds or memory: the socket stays readable, so pause it instead of
                         * spinning; the sweep timer resumes it within a second. */
                        (void)sd_event_source_set_enabled(l->io, SD_EVENT_OFF);
                        return 0;
                }
                /* No cap here: admission (ingest_admit()) bounds the connections of each kind. */
                if (l->transport == ADDRESS_TCP) {
                        /* An agent whose machine vanished sends no FIN: keepalive finds out within
                         * about two minutes instead of keeping its id "connected" for hours. */
                        int one = 1, idle = 60, intvl = 10, cnt = 6;
                        (void)setsockopt(cfd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
                        (void)setsockopt(cfd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
                        (void)setsockopt(cfd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
                        (void)setsockopt(cfd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
                }
                r = ingest_add_conn(in, cfd, l->transport);
                if (r < 0)
                        log_warning_errno(r, "Failed to set up connection on %s: %m", l->uri);
        }
        return 0;
}

static int ingest_add_listener(Ingest *in, int fd_in, AddressKind t, const char *uri, const char *unlink_path)
{
        _cleanup_close_ int fd = fd_in;
        _cleanup_free_ Listener *l = NULL;
        int r;

        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->ingest = in;
        l->transport = t;
        snprintf(l->uri, sizeof l->uri, "%s", uri);
        if (unlink_path)
                snprintf(l->unlink_path, sizeof l->unlink_path, "%s", unlink_path);
        r = sd_event_add_io(in->event, &l->io, fd, EPOLLIN, listener_io, l);
        if (r < 0)
                return r;
        l->fd = TAKE_FD(fd);
        l->next = in->listeners;
        in->listeners = TAKE_PTR(l);
        return 0;
}

static Listener *listener_free(Listener *l)
{
        if (!l)
                return NULL;
        l->io = sd_event_source_disable_unref(l->io);
        l->fd = safe_close(l->fd);
        if (l->unlink_path[0])
                (void)unlink(l->unlink_path);
        free(l);
        return NULL;
}

/* Replaces a stale socket file at path; refuses when a live process answers there or it is no socket. */
static int unix_prepare_path(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
                return -EADDRINUSE;
        if (errno != ECONNREFUSED)
                return negative_errno();
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int ingest_listen(Ingest *in, const char *uri, char **ret_uri)
{
        _cleanup_close_ int fd = -EBADF;
        char bound[INGEST_URI_MAX];
        const char *unlink_path = NULL;
        SocketAddress u, b;
        int r, one = 1;

        r = address_parse(uri, ADDRESS_LISTEN, &u);
        if (r < 0)
                return log_error_errno(r, "Invalid listen URI '%s'.", uri);

        b = u; /* what is bound: the same, with the port the kernel chose */
        switch (u.kind) {
        case ADDRESS_UNIX: {
                struct sockaddr_storage sa;
                bool abstract = u.path[0] == '@'; /* no file: nothing to prepare, chmod or remove */
                mode_t old;
                int len;

                len = address_unix_sockaddr(&u, &sa);
                if (len < 0)
                        return log_error_errno(len, "Socket path '%s' is too long.", u.path);
                r = abstract ? 0 : unix_prepare_path(u.path);
                if (r == -EADDRINUSE)
                        return log_error_errno(r, "Another process is listening on '%s'.", u.path);
                if (r == -EEXIST)
                        return log_error_errno(r, "'%s' exists and is not a socket.", u.path);
                if (r < 0)
                        return log_error_errno(r, "Failed to prepare socket path '%s': %m", u.path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return log_error_errno(errno, "Failed to create unix socket: %m");
                /* 0660: the socket file's permissions are what admits unix peers */
                old = umask(0117);
                r = bind(fd, (struct sockaddr *)&sa, (socklen_t)len);
                umask(old);
                if (r < 0)
                        return log_error_errno(errno, "Failed to bind '%s': %m", u.path);
                unlink_path = abstract ? NULL : u.path;
                break;
        }
        case ADDRESS_TCP: {
                struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
                struct addrinfo *ai = NULL;
                struct sockaddr_storage sa = {0};
                socklen_t len = sizeof sa;
                char port[16];

                snprintf(port, sizeof port, "%" PRIu32, u.port);
                r = getaddrinfo(u.host, port, &hints, &ai);
                if (r != 0)
                        return log_error_errno(EADDRNOTAVAIL, "Cannot resolve '%s': %s", u.host, gai_strerror(r));
                fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        r = negative_errno();
                        freeaddrinfo(ai);
                        return log_error_errno(r, "Failed to create tcp socket: %m");
                }
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                        r = negative_errno();
                        freeaddrinfo(ai);
                        return log_error_errno(r, "Failed to bind '%s': %m", uri);
                }
                freeaddrinfo(ai);
                if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                        return log_error_errno(errno, "getsockname: %m");
                b.port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)(void *)&sa)->sin6_port)
                                                  : ntohs(((struct sockaddr_in *)(void *)&sa)->sin_port);
                break;
        }
        case ADDRESS_VSOCK: {
                struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = u.cid, .svm_port = u.port};
                socklen_t len = sizeof sa;

                fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT || errno == ENODEV))
                        return log_error_errno(EAFNOSUPPORT,
                                               "vsock is not available on this kernel (the vsock module, and "
                                               "vsock_loopback for CID 1 or vhost_vsock for guests, are needed).");
                if (fd < 0)
                        return log_error_errno(errno, "Failed to create vsock socket: %m");
                if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                        r = negative_errno();
                        if (r == -EADDRNOTAVAIL || r == -ENODEV)
                                return log_error_errno(r, "Cannot bind '%s': no vsock transport for CID %u on this "
                                                          "kernel (vsock_loopback for CID 1, vhost_vsock for the host): %m",
                                                       uri, u.cid);
                        return log_error_errno(r, "Failed to bind '%s': %m", uri);
                }
                if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                        return log_error_errno(errno, "getsockname: %m");
                b.port = sa.svm_port;
                break;
        }
        default:
                return -EINVAL;
        }

        address_to_string(&b, bound, sizeof bound);
        if (listen(fd, SOMAXCONN) < 0) {
                r = negative_errno();
                if (unlink_path)
                        (void)unlink(unlink_path);
                return log_error_errno(r, "Failed to listen on '%s': %m", uri);
        }
        if (ret_uri) {
                *ret_uri = strdup(bound);
                if (!*ret_uri)
                        return log_oom();
        }
        r = ingest_add_listener(in, TAKE_FD(fd), u.kind, bound, unlink_path);
        if (r < 0) {
                if (ret_uri)
                        {
                        free(*ret_uri);
                        *ret_uri = NULL;
                }
                return log_error_errno(r, "Failed to watch '%s': %m", bound);
        }
        log_debug("Listening on %s.", bound);
        return 0;
}

int ingest_add_fd(Ingest *in, int fd_in, char **ret_uri)
{
        _cleanup_close_ int fd = fd_in;
        struct sockaddr_storage sa = {0};
        socklen_t len = sizeof sa;
        char uri[INGEST_URI_MAX];
        SocketAddress a;
        int r, flags;

        if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                return negative_errno();
        r = address_from_sockaddr((const struct sockaddr *)&sa, len, &a);
        if (r < 0)
                return r;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return negative_errno();
        address_to_string(&a, uri, sizeof uri);
        if (ret_uri) {
                *ret_uri = strdup(uri);
                if (!*ret_uri)
                        return -ENOMEM;
        }
        r = ingest_add_listener(in, TAKE_FD(fd), a.kind, uri, NULL);
        if (r < 0 && ret_uri)
                {
                        free(*ret_uri);
                        *ret_uri = NULL;
                }
        return r;
}

/* The budgets need several thousand descriptors; the soft limit is often 1024 while the hard one is far
 * higher (systemd sets 1024:524288). Everything here uses epoll, so raising it is safe. */
static void raise_nofile_limit(void)
{
        struct rlimit rl;
        rlim_t want = INGEST_AGENTS_MAX + 3 * INGEST_UNAUTH_MAX + 1024;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
                return;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : MIN(rl.rlim_max, want);
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
                log_warning("File descriptor limit %llu is below the %llu the connection budgets need; "
                            "raise LimitNOFILE=.", (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

int ingest_new(sd_event *event, Store *store, BbbPoller *poller, const Config *c, Ingest **ret)
{
        _cleanup_(ingest_freep) Ingest *in = NULL;
        int r;

        raise_nofile_limit();
        /* Over a file size limit (RLIMIT_FSIZE), writes fail with EFBIG, which the store handles like a
         * full disk (the batch is kept, nothing is acknowledged), instead of the signal killing us. */
        (void)signal(SIGXFSZ, SIG_IGN);

        in = calloc(1, sizeof *in);
        if (!in)
                return -ENOMEM;
        in->event = sd_event_ref(event);
        in->store = store;
        in->poller = poller;
        in->config = c;

        r = sd_event_add_time_relative(event, &in->commit_timer, CLOCK_MONOTONIC,
                                       (uint64_t)c->commit_interval_ms * USEC_PER_MSEC, USEC_PER_MSEC,
                                       on_commit_timer, in);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(in->commit_timer, SD_EVENT_OFF);
        r = sd_event_add_time_relative(event, &in->sweep_timer, CLOCK_MONOTONIC, USEC_PER_SEC, 100 * USEC_PER_MSEC,
                                       on_sweep_timer, in);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(event, &in->retention_timer, CLOCK_MONOTONIC, 10 * USEC_PER_SEC,
                                       USEC_PER_SEC, on_retention_timer, in);
        if (r < 0)
                return r;
        /* The retention timer runs until the loop ends; commit and sweep too. */
        (void)sd_event_source_set_enabled(in->sweep_timer, SD_EVENT_ON);
        (void)sd_event_source_set_enabled(in->retention_timer, SD_EVENT_ON);

        *ret = TAKE_PTR(in);
        return 0;
}

static void ingest_close_listeners(Ingest *in)
{
        while (in->listeners) {
                Listener *l = in->listeners;
                in->listeners = l->next;
                listener_free(l);
        }
}

Ingest *ingest_free(Ingest *in)
{
        if (!in)
                return NULL;
        ingest_close_listeners(in);
        while (in->conns)
                conn_close(in->conns, "daemon stopping");
        in->commit_timer = sd_event_source_disable_unref(in->commit_timer);
        in->sweep_timer = sd_event_source_disable_unref(in->sweep_timer);
        in->retention_timer = sd_event_source_disable_unref(in->retention_timer);
        sd_event_unref(in->event);
        free(in);
        return NULL;
}

void ingest_set_config(Ingest *in, const Config *c)
{
        in->config = c;
        for (Conn *conn = in->conns, *next; conn; conn = next) {
                const AgentConfig *ac;

                next = conn->next;
                if (conn->state != CONN_ACCEPTED)
                        continue;
                ac = config_find_agent(c, conn->id);
                if (conn->token_checked &&
                    (!ac || !ac->has_token || !memeq_consttime(ac->token_sha256, conn->token_sha256, 32))) {
                        log_agent(LOG_NOTICE, 0, conn->id, "Token of agent '%s' was revoked; closing its connection.",
                                  conn->id);
                        conn_close(conn, "token revoked");
                        continue;
                }
                snprintf(conn->bbb, sizeof conn->bbb, "%s", ac ? ac->bbb : "");
        }
}

void ingest_set_poller(Ingest *in, BbbPoller *poller)
{
        in->poller = poller;
}

unsigned ingest_n_agents(const Ingest *in)
{
        return in ? in->n_agents : 0;
}

int ingest_shutdown(Ingest *in, unsigned timeout_ms)
{
        int64_t deadline = mono_ms() + timeout_ms;
        int r;

        in->shutting_down = true;
        ingest_close_listeners(in);
        (void)sd_event_source_set_enabled(in->commit_timer, SD_EVENT_OFF);
        r = ingest_commit(in);

        /* Flush the final Acks; a peer that does not read within the deadline loses its last Ack, which
         * only means it resends samples that are already stored. */
        for (;;) {
                bool pending = false;
                for (Conn *c = in->conns; c; c = c->next) {
                        if (outbuf_pending(&c->out) > 0 && outbuf_flush(&c->out, c->fd) == 0 &&
                            outbuf_pending(&c->out) > 0)
                                pending = true;
                }
                if (!pending || mono_ms() >= deadline)
                        break;
                (void)usleep(5000);
        }
        while (in->conns) {
                Conn *c = in->conns;
                (void)shutdown(c->fd, SHUT_WR);
                conn_close(c, "daemon stopping");
        }
        return r;
}
