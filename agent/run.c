/* "seatmeter-agent run": the sd-event loop that samples on a monotonic timer, spools every sample and
 * streams the spool to the daemon. See run.h and docs/wire.md.
 *
 * The link goes IDLE -> CONNECTING -> HELLO (Hello sent, waiting for Welcome) -> STREAMING and back to
 * IDLE on any error, with exponential backoff. Everything sent comes out of the spool: after Welcome the
 * whole unacknowledged spool is sent again (in SampleBatch frames while there is a backlog), and new
 * samples follow as single Sample frames. The output buffer is refilled from the spool only when it runs
 * low, so a day of backlog never sits in memory twice. */

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config-build.h"
#include "convert.h"
#include "id.h"
#include "link.h"
#include "log.h"
#include "outbuf.h"
#include "proto/frame.h"
#include "run-settings.h"
#include "run.h"
#include "sampler.h"
#include "spool.h"
#include "util.h"
#include "watch.h"

#define RUN_TOKEN_MAX 1024 /* a token file larger than this is refused */
#define RUN_HOSTNAME_MAX 256
#define RUN_MACHINE_ID_MAX 64
#define RUN_BACKOFF_MIN_MS 100
#define RUN_BACKOFF_MAX_MS 5000
#define RUN_REFUSED_RETRY_MS 30000 /* after a Welcome that refused us */
#define RUN_CONNECT_TIMEOUT_MS 5000
#define RUN_WELCOME_TIMEOUT_MS 10000
#define RUN_BATCH_MAX_SAMPLES 256
#define RUN_BATCH_MAX_BYTES (256 * 1024)
#define RUN_OUTPUT_LOW (64 * 1024)  /* refill the output buffer from the spool below this */
#define RUN_READ_BUDGET (64 * 1024) /* bytes read per wakeup */
#define RUN_READ_CHUNK (16 * 1024)
#define RUN_SYNC_INTERVAL_MS 1000 /* fdatasync of the spool file at most this often */
#define RUN_STATUS_INTERVAL_MS 5000
#define RUN_DROP_LOG_INTERVAL_MS 60000

typedef enum LinkState {
        STATE_IDLE,
        STATE_CONNECTING,
        STATE_HELLO,
        STATE_STREAMING,
} LinkState;

typedef struct Run {
        RunConfig cfg;
        char *token;
        char hostname[RUN_HOSTNAME_MAX];
        char machine_id[RUN_MACHINE_ID_MAX];
        SocketAddress addr;

        sd_event *event;
        sd_event_source *tick_source, *retry_source, *io_source, *deadline_source;
        Sampler *sampler;
        Spool *spool;

        uint64_t interval_us, next_tick_us;
        AgentSample last;
        bool has_last;

        LinkState state;
        int fd;
        FrameDecoder *decoder;
        OutBuf out;
        uint64_t sent_seq;
        unsigned backoff_ms;
        bool down_logged;
        char *refusal; /* last refusal reason logged */

        uint64_t last_sync_us, last_status_us, last_drop_log_us, dropped_logged;
        bool file_error_logged, sample_error_logged;
        char status[256];
} Run;

static const char *state_name(LinkState s)
{
        switch (s) {
        case STATE_IDLE:
                return "disconnected";
        case STATE_CONNECTING:
                return "connecting";
        case STATE_HELLO:
                return "waiting for welcome";
        case STATE_STREAMING:
                return "connected";
        }
        return "unknown";
}

static void update_status(Run *run, bool force)
{
        char status[sizeof(run->status)];
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (!force && now - run->last_status_us < RUN_STATUS_INTERVAL_MS * USEC_PER_MSEC)
                return;
        snprintf(status, sizeof(status), "%s %s, %zu spooled, %" PRIu64 " dropped", state_name(run->state),
                 run->cfg.connect, spool_count(run->spool), spool_dropped(run->spool));
        run->last_status_us = now;
        if (streq(status, run->status))
                return;
        memcpy(run->status, status, sizeof(status));
        (void)sd_notifyf(false, "STATUS=%s", status);
}

static void schedule_retry(Run *run, unsigned delay_ms);
static int flush_output(Run *run);

/* Drops the connection and schedules the next attempt. */
static void disconnect(Run *run, int error, const char *what, unsigned retry_ms)
{
        if (run->state == STATE_STREAMING)
                log_warning_errno(error, "Disconnected from %s (%s): %m", run->cfg.connect, what);
        else if (!run->down_logged && !run->refusal)
                log_warning_errno(error, "Cannot reach %s (%s): %m; retrying with backoff.",
                                  run->cfg.connect, what);
        run->down_logged = true;

        run->io_source = sd_event_source_disable_unref(run->io_source);
        run->deadline_source = sd_event_source_disable_unref(run->deadline_source);
        run->fd = safe_close(run->fd);
        run->decoder = frame_decoder_free(run->decoder);
        outbuf_clear(&run->out);
        run->state = STATE_IDLE;
        update_status(run, true);
        schedule_retry(run, retry_ms);
}

static unsigned next_backoff(Run *run)
{
        unsigned b = run->backoff_ms, jittered;

        run->backoff_ms = MIN(run->backoff_ms * 2, (unsigned)RUN_BACKOFF_MAX_MS);
        /* Full jitter over the upper half: fifty agents restarted together do not reconnect in step. */
        jittered = b / 2 + (unsigned)(random() % (b / 2 + 1));
        return MAX(jittered, (unsigned)1);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
        Run *run = userdata;

        disconnect(run, ETIMEDOUT, run->state == STATE_CONNECTING ? "connect" : "no welcome",
                   next_backoff(run));
        return 0;
}

static int arm_deadline(Run *run, unsigned ms)
{
        run->deadline_source = sd_event_source_disable_unref(run->deadline_source);
        return sd_event_add_time_relative(run->event, &run->deadline_source, CLOCK_MONOTONIC,
                                          ms * USEC_PER_MSEC, 0, on_deadline, run);
}

static int set_io_events(Run *run)
{
        uint32_t events = EPOLLIN;

        if (!run->io_source)
                return 0;
        if (run->state == STATE_CONNECTING || outbuf_pending(&run->out) > 0)
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(run->io_source, events);
}

/* Moves unsent samples from the spool into the output buffer while it is low. */
static int fill_output(Run *run)
{
        struct iovec iov[RUN_BATCH_MAX_SAMPLES];
        int r;

        if (run->state != STATE_STREAMING)
                return 0;
        while (outbuf_pending(&run->out) < RUN_OUTPUT_LOW) {
                size_t i = spool_find_after(run->spool, run->sent_seq), n = 0, bytes = 0, size;
                size_t count = spool_count(run->spool);
                uint64_t last_seq = 0;
                uint8_t *p;

                if (i >= count)
                        break;
                for (; i < count && n < RUN_BATCH_MAX_SAMPLES; i++) {
                        SpoolEntry e;

                        spool_get(run->spool, i, &e);
                        if (n > 0 && bytes + e.size > RUN_BATCH_MAX_BYTES)
                                break;
                        iov[n++] = (struct iovec){.iov_base = (void *)e.data, .iov_len = e.size};
                        bytes += e.size;
                        last_seq = e.seq;
                }
                size = frame_samples_size(iov, n, false);
                r = outbuf_reserve(&run->out, size, SIZE_MAX, &p);
                if (r < 0)
                        return r;
                frame_samples_write(iov, n, false, p);
                outbuf_commit(&run->out, size);
                run->sent_seq = last_seq;
        }
        return 0;
}

/* Writes what the output buffer holds until the socket would block. Returns 0, or <0 after
 * disconnecting. */
static int flush_output(Run *run)
{
        int r;

        for (;;) {
                r = fill_output(run);
                if (r < 0) {
                        disconnect(run, r, "output", next_backoff(run));
                        return r;
                }
                if (outbuf_pending(&run->out) == 0)
                        break;
                r = outbuf_flush(&run->out, run->fd);
                if (r < 0) {
                        disconnect(run, r, "write", next_backoff(run));
                        return r;
                }
                if (outbuf_pending(&run->out) > 0)
                        break; /* the socket is full: EPOLLOUT brings us back */
        }
        (void)set_io_events(run);
        return 0;
}

static int send_hello(Run *run)
{
        _cleanup_free_ WireHello *w = NULL;
        Seatmeter__Frame f = SEATMETER__FRAME__INIT;
        HelloInfo info = {
                .agent_id = run->cfg.id,
                .token = run->token,
                .hostname = run->hostname,
                .machine_id = run->machine_id,
                .agent_version = PACKAGE_VERSION,
                .labels = &run->cfg.watch.labels,
                .clock_ms = now_ms(),
        };
        size_t size;
        uint8_t *p;
        int r;

        w = malloc(sizeof(*w));
        if (!w)
                return -ENOMEM;
        convert_hello(&info, &run->last, w);
        w->hello.has_stream = true;
        w->hello.stream = spool_stream(run->spool);
        f.msg_case = SEATMETER__FRAME__MSG_HELLO;
        f.hello = &w->hello;
        size = frame_encoded_size(&f);
        r = outbuf_reserve(&run->out, size, SIZE_MAX, &p);
        if (r < 0)
                return r;
        r = frame_encode_into(&f, p, size, &size);
        if (r < 0)
                return r;
        outbuf_commit(&run->out, size);
        return 0;
}

static int on_connected(Run *run)
{
        int r;

        r = frame_decoder_new(0, &run->decoder);
        if (r < 0)
                return r;
        run->state = STATE_HELLO;
        r = send_hello(run);
        if (r < 0)
                return r;
        r = arm_deadline(run, RUN_WELCOME_TIMEOUT_MS);
        if (r < 0)
                return r;
        return flush_output(run);
}

static void on_welcome(Run *run, const Seatmeter__Welcome *w)
{
        int r;

        if (!w->accepted || (w->has_protocol_version && w->protocol_version != FRAME_PROTOCOL_VERSION)) {
                const char *reason = w->accepted ? "unsupported protocol version" : strempty(w->reason);

                /* Logged once per distinct reason, not at every retry. */
                if (!run->refusal || !streq(run->refusal, reason)) {
                        log_error("Daemon at %s refused agent '%s': '%s'. Retrying every %u s.",
                                  run->cfg.connect, run->cfg.id, reason, RUN_REFUSED_RETRY_MS / 1000);
                        free(run->refusal);
                        run->refusal = strdup(reason);
                }
                run->state = STATE_HELLO; /* not "disconnected from": we never were connected */
                disconnect(run, EACCES, "refused", RUN_REFUSED_RETRY_MS);
                return;
        }

        run->deadline_source = sd_event_source_disable_unref(run->deadline_source);
        run->state = STATE_STREAMING;
        run->backoff_ms = RUN_BACKOFF_MIN_MS;
        run->down_logged = false;
        free(run->refusal);
        run->refusal = NULL;
        log_info("Connected to %s as '%s'; daemon has samples up to seq %" PRIu64 ", %zu spooled to send.",
                 run->cfg.connect, run->cfg.id, w->has_last_seq ? w->last_seq : 0, spool_count(run->spool));

        /* Resume after what the daemon already stored of this spool's stream: by sequence number only
         * (Welcome.last_time_ms, which older daemons send, is ignored: a clock may have run ahead). */
        if (w->has_last_seq && w->last_seq > 0) {
                r = spool_ack(run->spool, w->last_seq);
                if (r < 0)
                        log_warning_errno(r, "Failed to record the daemon's position in the spool file: %m");
        }
        if (w->has_last_seq) {
                r = spool_bump_seq(run->spool, w->last_seq);
                if (r < 0)
                        log_warning_errno(r, "Failed to record the sequence number in the spool file: %m");
        }
        run->sent_seq = 0;
        update_status(run, true);
}

static void on_ack(Run *run, const Seatmeter__Ack *a)
{
        int r;

        if (!a->has_up_to_seq)
                return;
        r = spool_ack(run->spool, a->up_to_seq);
        if (r < 0 && !run->file_error_logged) {
                log_warning_errno(r, "Failed to record an Ack in the spool file: %m");
                run->file_error_logged = true;
        }
}

/* Returns 0, or <0 after disconnecting. */
static int handle_frame(Run *run, const Seatmeter__Frame *f)
{
        if (f->msg_case == SEATMETER__FRAME__MSG_WELCOME && run->state == STATE_HELLO) {
                on_welcome(run, f->welcome);
                if (run->state != STATE_STREAMING)
                        return -EACCES;
                return flush_output(run); /* the backlog goes out now, not at the next tick */
        }
        if (f->msg_case == SEATMETER__FRAME__MSG_ACK && run->state == STATE_STREAMING) {
                on_ack(run, f->ack);
                return 0;
        }
        log_debug("Unexpected '%s' frame from %s.", frame_msg_name(f), run->cfg.connect);
        disconnect(run, EPROTO, "unexpected frame", next_backoff(run));
        return -EPROTO;
}

/* Reads what arrived and handles the frames. Returns 0, or <0 after disconnecting. */
static int read_input(Run *run)
{
        size_t budget = RUN_READ_BUDGET;
        int r;

        while (budget > 0) {
                void *space;
                size_t avail;
                ssize_t n;

                r = frame_decoder_reserve(run->decoder, RUN_READ_CHUNK, &space, &avail);
                if (r < 0) {
                        disconnect(run, r, "read", next_backoff(run));
                        return r;
                }
                n = read(run->fd, space, MIN(avail, budget));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        r = negative_errno();
                        disconnect(run, r, "read", next_backoff(run));
                        return r;
                }
                if (n == 0) {
                        disconnect(run, ECONNRESET, "closed by the daemon", next_backoff(run));
                        return -ECONNRESET;
                }
                frame_decoder_advance(run->decoder, (size_t)n);
                budget -= (size_t)n;

                for (;;) {
                        Seatmeter__Frame *f = NULL;

                        r = frame_decoder_next(run->decoder, &f);
                        if (r < 0) {
                                disconnect(run, r, "bad frame", next_backoff(run));
                                return r;
                        }
                        if (r == 0)
                                break;
                        r = handle_frame(run, f);
                        seatmeter__frame__free_unpacked(f, NULL);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Run *run = userdata;
        int r;

        if (run->state == STATE_CONNECTING) {
                if (!(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        return 0;
                r = link_connect_finish(fd);
                if (r < 0) {
                        disconnect(run, r, "connect", next_backoff(run));
                        return 0;
                }
                r = on_connected(run);
                if (r < 0 && run->state != STATE_IDLE)
                        disconnect(run, r, "hello", next_backoff(run));
                return 0;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                r = read_input(run);
                if (r < 0)
                        return 0;
        }
        if (revents & EPOLLOUT)
                (void)flush_output(run);
        return 0;
}

static int start_connect(Run *run)
{
        int r;

        r = link_connect(&run->addr, &run->fd);
        if (r < 0) {
                disconnect(run, r, "connect", next_backoff(run));
                return 0;
        }
        run->state = r > 0 ? STATE_CONNECTING : STATE_HELLO;
        r = sd_event_add_io(run->event, &run->io_source, run->fd, EPOLLIN | EPOLLOUT, on_io, run);
        if (r < 0) {
                disconnect(run, r, "event loop", next_backoff(run));
                return 0;
        }
        if (run->state == STATE_CONNECTING) {
                r = arm_deadline(run, RUN_CONNECT_TIMEOUT_MS);
                if (r < 0)
                        disconnect(run, r, "event loop", next_backoff(run));
                return 0;
        }
        r = on_connected(run);
        if (r < 0 && run->state != STATE_IDLE)
                disconnect(run, r, "hello", next_backoff(run));
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        Run *run = userdata;

        run->retry_source = sd_event_source_disable_unref(run->retry_source);
        return start_connect(run);
}

static void schedule_retry(Run *run, unsigned delay_ms)
{
        int r;

        run->retry_source = sd_event_source_disable_unref(run->retry_source);
        r = sd_event_add_time_relative(run->event, &run->retry_source, CLOCK_MONOTONIC,
                                       (uint64_t)delay_ms * USEC_PER_MSEC, 0, on_retry, run);
        if (r < 0) {
                /* Without a timer we cannot come back: end the loop rather than hang silently. */
                log_error_errno(r, "Failed to schedule a reconnect: %m");
                (void)sd_event_exit(run->event, RUN_EXIT_FAILURE);
        }
}

/* Takes one sample into the spool (and onto the wire when connected). */
static int take_sample(Run *run)
{
        _cleanup_free_ AgentSample *s = NULL;
        _cleanup_free_ uint8_t *packed = NULL;
        size_t size;
        bool with_limits;
        int r;

        s = malloc(sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = sampler_read(run->sampler, s);
        if (r < 0)
                return r;
        s->seq = spool_last_seq(run->spool) + 1;
        with_limits = !run->has_last || !convert_limits_equal(&run->last.limits, &s->limits);
        r = convert_sample_pack(s, with_limits, &packed, &size);
        if (r < 0)
                return r;
        r = spool_append(run->spool, s->seq, s->time_ms, packed, size);
        if (r == -ENOMEM || r == -EINVAL || r == -EMSGSIZE)
                return r;
        if (r < 0 && !run->file_error_logged) {
                log_warning_errno(r, "Failed to write the spool file (samples are kept in memory): %m");
                run->file_error_logged = true;
        }
        run->last = *s;
        run->has_last = true;
        return 0;
}

static void note_drops(Run *run, uint64_t now)
{
        uint64_t dropped = spool_dropped(run->spool);

        if (dropped == run->dropped_logged)
                return;
        if (run->dropped_logged > 0 &&
            now - run->last_drop_log_us < RUN_DROP_LOG_INTERVAL_MS * USEC_PER_MSEC)
                return;
        log_warning("Spool full: dropped the oldest samples, %" PRIu64 " so far.", dropped);
        run->dropped_logged = dropped;
        run->last_drop_log_us = now;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        Run *run = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        r = take_sample(run);
        if (r < 0) {
                if (!run->sample_error_logged)
                        log_warning_errno(r, "Failed to take a sample: %m");
                run->sample_error_logged = true;
        } else
                run->sample_error_logged = false;

        note_drops(run, now);
        if (run->state == STATE_STREAMING)
                (void)flush_output(run);

        if (now - run->last_sync_us >= RUN_SYNC_INTERVAL_MS * USEC_PER_MSEC) {
                r = spool_sync(run->spool);
                if (r < 0 && !run->file_error_logged) {
                        log_warning_errno(r, "Failed to sync the spool file: %m");
                        run->file_error_logged = true;
                }
                run->last_sync_us = now;
        }
        update_status(run, false);

        /* The next tick follows the schedule, not the time we got here: no drift. Ticks missed while
         * suspended or stalled are skipped, not taken in a burst. */
        run->next_tick_us += run->interval_us;
        if (run->next_tick_us <= now)
                run->next_tick_us += ((now - run->next_tick_us) / run->interval_us + 1) * run->interval_us;
        r = sd_event_source_set_time(s, run->next_tick_us);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0)
                return log_error_errno(r, "Failed to rearm the sampling timer: %m");
        return 0;
}

static int read_token(const char *path, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        char *t;
        int r;

        r = read_full_file_at(AT_FDCWD, path, RUN_TOKEN_MAX, &buf, NULL);
        if (r == -EFBIG)
                return log_error_errno(r, "Token file '%s' is larger than %u bytes.", path, RUN_TOKEN_MAX);
        if (r < 0)
                return log_error_errno(r, "Cannot read token file '%s': %m", path);
        t = strstrip(buf);
        if (isempty(t))
                return log_error_errno(EINVAL, "Token file '%s' is empty.", path);
        if (strpbrk(t, "\r\n"))
                return log_error_errno(EINVAL, "Token file '%s' holds more than one line.", path);
        t = strdup(t);
        if (!t)
                return log_oom();
        *ret = t;
        return 0;
}

static int spool_path(const RunConfig *c, char **ret)
{
        _cleanup_free_ char *dir = NULL;
        const char *state = getenv("STATE_DIRECTORY");

        if (c->spool)
                dir = strdup(c->spool);
        else if (!isempty(state))
                dir = strndup(state, strcspn(state, ":")); /* systemd may list several, first is ours */
        else
                dir = strdup(".");
        if (!dir)
                return -ENOMEM;
        if (asprintf(ret, "%s/%s.spool", dir, c->id) < 0)
                return -ENOMEM;
        return 0;
}

static void run_done(Run *run)
{
        run->tick_source = sd_event_source_disable_unref(run->tick_source);
        run->retry_source = sd_event_source_disable_unref(run->retry_source);
        run->io_source = sd_event_source_disable_unref(run->io_source);
        run->deadline_source = sd_event_source_disable_unref(run->deadline_source);
        run->fd = safe_close(run->fd);
        run->decoder = frame_decoder_free(run->decoder);
        outbuf_done(&run->out);
        run->spool = spool_free(run->spool);
        run->sampler = sampler_free(run->sampler);
        run->event = sd_event_unref(run->event);
        free(run->token);
        free(run->refusal);
        run_config_done(&run->cfg);
}

static int setup(Run *run, int argc, char **argv)
{
        _cleanup_free_ char *path = NULL;
        SamplerOptions so = {.include_lo = false};
        int r;

        r = run_config_parse(argc, argv, &run->cfg);
        if (r != 0)
                return r < 0 ? -RUN_EXIT_USAGE : 1;
        r = address_parse(run->cfg.connect, ADDRESS_CONNECT, &run->addr);
        if (r < 0) {
                log_error_errno(r, "Invalid connect URI '%s': %m", run->cfg.connect);
                return -RUN_EXIT_USAGE;
        }
        if (run->cfg.token_file && read_token(run->cfg.token_file, &run->token) < 0)
                return -RUN_EXIT_USAGE;

        so.root = run->cfg.root;
        so.cgroup = run->cfg.cgroup;
        watch_options_apply(&run->cfg.watch, &so);
        r = sampler_new(&so, &run->sampler);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the sampler: %m");
                return -RUN_EXIT_FAILURE;
        }
        sampler_identity(run->sampler, run->hostname, sizeof(run->hostname), run->machine_id,
                         sizeof(run->machine_id));
        if (!run->cfg.id) {
                run->cfg.id = strndup(run->hostname, RUN_ID_MAX);
                if (!run->cfg.id)
                        return log_oom();
        }
        if (!id_is_valid(run->cfg.id)) {
                log_error("Invalid agent id '%s': 1 to %u of [A-Za-z0-9._-]; set --id.", run->cfg.id,
                          RUN_ID_MAX);
                return -RUN_EXIT_USAGE;
        }

        r = spool_path(&run->cfg, &path);
        if (r < 0)
                return log_oom();
        {
                /* Create the folder itself (not its parents): "--spool /var/lib/x" on a fresh system. */
                _cleanup_free_ char *dir = strndup(path, strrchr(path, '/') - path);
                if (!dir)
                        return log_oom();
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        log_warning_errno(errno, "Cannot create spool folder '%s': %m", dir);
        }
        r = spool_open(path, 0, 0, &run->spool);
        if (r == -EBUSY) {
                log_error("Spool '%s' is in use by another agent: give each agent its own --id or --spool.",
                          path);
                return -RUN_EXIT_FAILURE;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to open the spool '%s': %m", path);
                return -RUN_EXIT_FAILURE;
        }
        if (spool_torn_bytes(run->spool) > 0)
                log_warning("Spool '%s' ended in a torn record (%" PRIu64 " bytes cut off).", path,
                            spool_torn_bytes(run->spool));
        if (spool_count(run->spool) > 0 || spool_dropped(run->spool) > 0)
                log_info("Spool '%s' holds %zu unacknowledged samples (%" PRIu64 " dropped to fit).", path,
                         spool_count(run->spool), spool_dropped(run->spool));
        return 0;
}

int run_main(int argc, char **argv)
{
        Run run = {.fd = -EBADF, .backoff_ms = RUN_BACKOFF_MIN_MS};
        sigset_t mask;
        int r, ret = RUN_EXIT_FAILURE;

        r = setup(&run, argc, argv);
        if (r != 0) {
                ret = r > 0 ? RUN_EXIT_OK : -r;
                goto out;
        }
        srandom((unsigned)(now_usec(CLOCK_MONOTONIC) ^ (uint64_t)getpid()));

        r = sd_event_default(&run.event);
        if (r < 0) {
                log_error_errno(r, "Failed to create the event loop: %m");
                goto out;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            sd_event_add_signal(run.event, NULL, SIGTERM, NULL, NULL) < 0 ||
            sd_event_add_signal(run.event, NULL, SIGINT, NULL, NULL) < 0) {
                log_error("Failed to set up signal handling.");
                goto out;
        }

        /* The first sample proves the sampler works and gives Hello its limits. */
        r = take_sample(&run);
        if (r < 0) {
                log_error_errno(r, "Failed to take the first sample: %m");
                goto out;
        }
        run.interval_us = run.cfg.interval_ms * USEC_PER_MSEC;
        run.next_tick_us = now_usec(CLOCK_MONOTONIC) + run.interval_us;
        r = sd_event_add_time(run.event, &run.tick_source, CLOCK_MONOTONIC, run.next_tick_us, 1, on_tick,
                              &run);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the sampling timer: %m");
                goto out;
        }
        r = sd_event_source_set_enabled(run.tick_source, SD_EVENT_ONESHOT);
        if (r < 0)
                goto out;

        log_info("Agent '%s' sampling every %" PRIu64 " ms, streaming to %s.", run.cfg.id,
                 run.cfg.interval_ms, run.cfg.connect);
        (void)sd_notify(false, "READY=1");
        update_status(&run, true);
        (void)start_connect(&run);

        r = sd_event_loop(run.event);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                goto out;
        }
        ret = r;
        (void)sd_notify(false, "STOPPING=1");
        r = spool_sync(run.spool);
        if (r < 0)
                log_warning_errno(r, "Failed to flush the spool file: %m");
        log_info("Stopped; %zu samples spooled.", spool_count(run.spool));
out:
        run_done(&run);
        return ret;
}
