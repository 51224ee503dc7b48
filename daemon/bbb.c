/* See bbb.h. One BbbPoller drives every configured BigBlueButton server from the daemon's sd-event
 * loop: a timer per server starts a getMeetings request, libcurl's multi interface runs all transfers,
 * and its sockets and timeout are handed to sd-event (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION), so the
 * loop never blocks on the network. docs/bbb.md describes the state machine. */

#include <sys/epoll.h>

#include <curl/curl.h>

#include "bbb-xml.h"
#include "bbb.h"
#include "checksum.h"
#include "config-build.h"
#include "log.h"
#include "stats.h"
#include "util.h"

#define BBB_CONNECT_TIMEOUT_MS 5000
#define BBB_TOTAL_TIMEOUT_MS 10000
#define BBB_TIMEOUT_KNOB_MAX_MS 60000
#define BBB_REDIRECTS_MAX 3
#define BBB_FAILURES_DOWN 2             /* consecutive failures that mark a server down */
#define BBB_FRESH_INTERVALS 2           /* a poll is fresh for this many intervals */
#define BBB_RING_SIZE 64                /* polls kept in memory per server */
#define BBB_TIMER_ACCURACY_USEC (50 * USEC_PER_MSEC)

typedef struct BbbPollRecord {
        int64_t time_ms;
        bool ok;
        bool up;                        /* state after this poll */
        int64_t participants;           /* valid when ok */
        int64_t listeners, voice, video; /* valid when ok */
} BbbPollRecord;

typedef struct BbbSocket BbbSocket;
struct BbbSocket {
        BbbPoller *poller;
        sd_event_source *source;
        BbbSocket *prev, *next;
};

typedef struct BbbServer {
        BbbPoller *poller;
        char name[CONFIG_NAME_MAX + 1];
        char *request_url;              /* carries the checksum: never logged, never served */
        unsigned interval_s;

        sd_event_source *timer;
        CURL *easy;                     /* non-NULL while a poll is in flight */
        char *body;
        size_t body_size, body_alloc;
        bool body_too_big;
        char curl_error[CURL_ERROR_SIZE];

        BbbServerState state;
        bool store_failing;
        BbbPollRecord ring[BBB_RING_SIZE];
        unsigned ring_next, ring_n;
} BbbServer;

struct BbbPoller {
        sd_event *event;
        Store *store;
        CURLM *multi;
        sd_event_source *curl_timer;
        BbbSocket *sockets;
        long connect_timeout_ms, timeout_ms;

        BbbServer **servers;
        size_t n_servers;
};

/* ---- URL and checksum ---- */

static bool url_scheme_ok(const char *url)
{
        return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static bool query_ok(const char *q)
{
        for (const char *c = q; *c; c++)
                if ((unsigned char)*c <= ' ' || *c == '#' || (unsigned char)*c == 0x7f)
                        return false;
        return true;
}

int bbb_build_url(const char *url, const char *call, const char *query, const char *secret, ChecksumAlgo algo,
                  char **ret)
{
        char hex[CHECKSUM_HEX_MAX + 1];
        const char *slash, *api;
        size_t ul;
        char *s;
        int r;

        assert(url);
        assert(call);
        assert(secret);
        assert(ret);

        query = strempty(query);
        ul = strlen(url);
        if (ul == 0 || ul > CONFIG_URL_MAX || !url_scheme_ok(url) || !query_ok(url))
                return -EINVAL;
        if (strlen(call) == 0 || strlen(call) > BBB_CALL_MAX)
                return -EINVAL;
        for (const char *c = call; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
                        return -EINVAL;
        if (strlen(query) > BBB_QUERY_MAX || !query_ok(query))
                return -EINVAL;

        r = checksum_api_hex(algo, call, query, secret, hex);
        if (r < 0)
                return r;

        slash = url[ul - 1] == '/' ? "" : "/";
        /* Some tools (Greenlight's endpoint setting) name the API folder itself: don't add it twice. */
        api = (ul >= 4 && strcmp(url + ul - 4, "/api") == 0) || (ul >= 5 && strcmp(url + ul - 5, "/api/") == 0)
                      ? ""
                      : "api/";
        if (asprintf(&s, "%s%s%s%s?%s%schecksum=%s", url, slash, api, call, query, isempty(query) ? "" : "&",
                     hex) < 0)
                return -ENOMEM;
        if (strlen(s) > BBB_URL_MAX) {
                free(s);
                return -E2BIG;
        }
        *ret = s;
        return 0;
}

/* ---- libcurl on sd-event ---- */

static void bbb_socket_free(BbbSocket *s)
{
        if (!s)
                return;
        sd_event_source_disable_unref(s->source);
        if (s->prev)
                s->prev->next = s->next;
        else
                s->poller->sockets = s->next;
        if (s->next)
                s->next->prev = s->prev;
        free(s);
}

static void bbb_poller_check_done(BbbPoller *p);

static int on_curl_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        BbbPoller *p = userdata;
        int action = 0, running;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        (void)curl_multi_socket_action(p->multi, fd, action, &running);
        bbb_poller_check_done(p);
        return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        BbbPoller *p = userp;
        BbbSocket *s = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        (void)curl_multi_assign(p->multi, fd, NULL);
                        bbb_socket_free(s);
                }
                return 0;
        }

        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;

        if (s) {
                r = sd_event_source_set_io_events(s->source, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s->source, SD_EVENT_ON);
                if (r < 0) {
                        log_error_errno(r, "Failed to update BBB poll socket: %m");
                        return -1;
                }
                return 0;
        }

        s = calloc(1, sizeof *s);
        if (!s) {
                log_oom();
                return -1;
        }
        s->poller = p;
        r = sd_event_add_io(p->event, &s->source, fd, events, on_curl_io, p);
        if (r < 0) {
                free(s);
                log_error_errno(r, "Failed to watch BBB poll socket: %m");
                return -1;
        }
        (void)sd_event_source_set_description(s->source, "bbb-curl-io");
        s->next = p->sockets;
        if (s->next)
                s->next->prev = s;
        p->sockets = s;
        (void)curl_multi_assign(p->multi, fd, s);
        return 0;
}

static int on_curl_timer_fired(sd_event_source *source, uint64_t usec, void *userdata)
{
        BbbPoller *p = userdata;
        int running;

        (void)curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        bbb_poller_check_done(p);
        return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
        BbbPoller *p = userp;
        uint64_t when;
        int r;

        if (timeout_ms < 0) {
                if (p->curl_timer)
                        (void)sd_event_source_set_enabled(p->curl_timer, SD_EVENT_OFF);
                return 0;
        }

        /* Time 0 (or any past time) fires on the next loop iteration, never from inside this callback, which
         * libcurl forbids. */
        when = now_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * USEC_PER_MSEC;
        if (!p->curl_timer) {
                r = sd_event_add_time(p->event, &p->curl_timer, CLOCK_MONOTONIC, when, 1, on_curl_timer_fired, p);
                if (r < 0) {
                        log_error_errno(r, "Failed to add BBB poll timeout: %m");
                        return -1;
                }
                (void)sd_event_source_set_description(p->curl_timer, "bbb-curl-timer");
                return 0;
        }
        r = sd_event_source_set_time(p->curl_timer, when);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->curl_timer, SD_EVENT_ONESHOT);
        if (r < 0) {
                log_error_errno(r, "Failed to arm BBB poll timeout: %m");
                return -1;
        }
        return 0;
}

/* ---- one server ---- */

static void bbb_server_cancel(BbbServer *s)
{
        if (!s->easy)
                return;
        (void)curl_multi_remove_handle(s->poller->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
        free(s->body);
        s->body = NULL;
        s->body_size = s->body_alloc = 0;
}

static BbbServer *bbb_server_free(BbbServer *s)
{
        if (!s)
                return NULL;
        bbb_server_cancel(s);
        sd_event_source_disable_unref(s->timer);
        free(s->request_url);
        free(s->body);
        free(s);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(BbbServer *, bbb_server_free)

static size_t on_curl_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        BbbServer *s = userdata;
        size_t n = size * nmemb;

        if (n > BBB_BODY_MAX - s->body_size) {
                s->body_too_big = true;
                return 0; /* CURLE_WRITE_ERROR ends the transfer */
        }
        if (s->body_size + n + 1 > s->body_alloc) {
                size_t a = MAX(s->body_alloc * 2, (size_t)16384);
                char *b;

                while (a < s->body_size + n + 1)
                        a *= 2;
                a = MIN(a, (size_t)BBB_BODY_MAX + 1);
                b = realloc(s->body, a);
                if (!b)
                        return 0;
                s->body = b;
                s->body_alloc = a;
        }
        memcpy(s->body + s->body_size, data, n);
        s->body_size += n;
        s->body[s->body_size] = 0;
        return n;
}

static int bbb_server_start_poll(BbbServer *s)
{
        BbbPoller *p = s->poller;
        CURL *e;
        CURLMcode mc;

        assert(!s->easy);

        e = curl_easy_init();
        if (!e)
                return -ENOMEM;

        s->body_size = 0;
        s->body_too_big = false;
        s->curl_error[0] = 0;
        if (curl_easy_setopt(e, CURLOPT_URL, s->request_url) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_PRIVATE, s) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_write) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEDATA, s) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_error) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, p->connect_timeout_ms) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, p->timeout_ms) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)BBB_REDIRECTS_MAX) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BBB_BODY_MAX) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_USERAGENT, "seatmeter/" PACKAGE_VERSION) != CURLE_OK) {
                curl_easy_cleanup(e);
                return -EIO;
        }

        mc = curl_multi_add_handle(p->multi, e);
        if (mc != CURLM_OK) {
                curl_easy_cleanup(e);
                return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
        }
        s->easy = e;
        return 0;
}

static void bbb_server_record(BbbServer *s, bool ok, const BbbCounts *counts, const char *error)
{
        BbbPoller *p = s->poller;
        BbbServerState *st = &s->state;
        int64_t now = now_ms();
        bool was_up = st->up, was_down = st->down;

        STATS_INC(bbb_polls);
        st->polls++;
        st->last_poll_ms = now;
        if (ok) {
                st->failures = 0;
                st->up = true;
                st->down = false;
                st->counts = *counts;
                st->last_ok_ms = now;
                st->error[0] = 0;
                if (!was_up)
                        log_bbb(LOG_INFO, 0, s->name, "BBB server '%s' is up: %" PRIi64 " participants in %" PRIi64
                                " meetings.", s->name, counts->participants, counts->meetings);
        } else {
                STATS_INC(bbb_poll_errors);
                st->errors++;
                st->failures++;
                snprintf(st->error, sizeof st->error, "%s", strempty(error));
                if (st->failures >= BBB_FAILURES_DOWN) {
                        st->up = false;
                        st->down = true;
                        st->counts = (BbbCounts){0};
                }
                if (!was_down && st->down)
                        log_bbb(LOG_WARNING, 0, s->name, "BBB server '%s' is down after %u failed polls: %s",
                                s->name, st->failures, st->error);
                else
                        log_bbb(LOG_DEBUG, 0, s->name, "BBB server '%s': poll failed: %s", s->name, st->error);
        }

        s->ring[s->ring_next] = (BbbPollRecord){
                .time_ms = now,
                .ok = ok,
                .up = st->up,
                .participants = ok ? counts->participants : 0,
                .listeners = ok ? counts->listeners : 0,
                .voice = ok ? counts->voice : 0,
                .video = ok ? counts->video : 0,
        };
        s->ring_next = (s->ring_next + 1) % BBB_RING_SIZE;
        if (s->ring_n < BBB_RING_SIZE)
                s->ring_n++;

        if (p->store) {
                StoreBbbPoll sp = {
                        .server = s->name,
                        .time_ms = now,
                        .ok = ok,
                        .up = st->up,
                        .error = ok ? NULL : st->error,
                };
                int r;

                if (ok) {
                        sp.meetings = counts->meetings;
                        sp.participants = counts->participants;
                        sp.listeners = counts->listeners;
                        sp.voice = counts->voice;
                        sp.video = counts->video;
                        sp.moderators = counts->moderators;
                        sp.breakouts = counts->breakouts;
                }
                r = store_add_bbb_poll(p->store, &sp);
                if (r < 0 && !s->store_failing)
                        log_bbb(LOG_WARNING, r, s->name, "Failed to store the poll of BBB server '%s': %m", s->name);
                else if (r >= 0 && s->store_failing)
                        log_bbb(LOG_INFO, 0, s->name, "Storing polls of BBB server '%s' works again.", s->name);
                s->store_failing = r < 0;
        }
}

/* Turns a finished transfer into a poll result. */
static void bbb_server_finish(BbbServer *s, CURLcode res)
{
        _cleanup_free_ char *parse_error = NULL;
        char error[BBB_ERROR_MAX];
        BbbCounts counts = {0};
        long status = 0;
        int r;

        if (res != CURLE_OK) {
                if (s->body_too_big || res == CURLE_FILESIZE_EXCEEDED)
                        snprintf(error, sizeof error, "answer larger than %d bytes", BBB_BODY_MAX);
                else
                        snprintf(error, sizeof error, "%s", !isempty(s->curl_error) ? s->curl_error : curl_easy_strerror(res));
                bbb_server_record(s, false, NULL, error);
                return;
        }

        (void)curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
                snprintf(error, sizeof error, "HTTP status %ld", status);
                bbb_server_record(s, false, NULL, error);
                return;
        }

        r = bbb_parse_meetings(s->body ? s->body : "", s->body_size, &counts, &parse_error);
        if (r == -EPROTO)
                snprintf(error, sizeof error, "FAILED %s", strna(parse_error));
        else if (r < 0)
                snprintf(error, sizeof error, "bad answer: %s", parse_error ? parse_error : strerror(-r));
        bbb_server_record(s, r >= 0, &counts, r < 0 ? error : NULL);
}

static void bbb_poller_check_done(BbbPoller *p)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(p->multi, &left))) {
                BbbServer *s = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
                if (!s || s->easy != msg->easy_handle)
                        continue;
                bbb_server_finish(s, msg->data.result);
                bbb_server_cancel(s);
        }
}

static int on_poll_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
        BbbServer *s = userdata;
        uint64_t interval = (uint64_t)s->interval_s * USEC_PER_SEC, next, now;
        int r;

        /* Fixed cadence: the next poll is due one interval after this one was due, unless we fell behind. */
        now = now_usec(CLOCK_MONOTONIC);
        next = usec + interval;
        if (next <= now)
                next = now + interval;
        r = sd_event_source_set_time(source, next);
        if (r >= 0)
                r = sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        if (r < 0)
                return log_bbb(LOG_ERR, r, s->name, "Failed to rearm the poll timer of BBB server '%s': %m", s->name);

        if (s->easy) {
                log_bbb(LOG_DEBUG, 0, s->name, "BBB server '%s': previous poll still running, skipping.", s->name);
                return 0;
        }
        r = bbb_server_start_poll(s);
        if (r < 0) {
                char error[BBB_ERROR_MAX];

                snprintf(error, sizeof error, "could not start the request: %s", strerror(-r));
                bbb_server_record(s, false, NULL, error);
        }
        return 0;
}

static int bbb_server_new(BbbPoller *p, const BbbConfig *bc, BbbServer **ret)
{
        _cleanup_(bbb_server_freep) BbbServer *s = NULL;
        int r;

        if (isempty(bc->name) || strlen(bc->name) > CONFIG_NAME_MAX)
                return log_error_errno(EINVAL, "BBB server without a valid name.");
        if (!bc->secret)
                return log_bbb(LOG_ERR, EINVAL, bc->name, "BBB server '%s' has no secret loaded.", bc->name);
        if (bc->interval_s < 1 || bc->interval_s > 3600)
                return log_bbb(LOG_ERR, EINVAL, bc->name, "BBB server '%s': interval_s %u out of 1..3600.", bc->name,
                               bc->interval_s);

        s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        s->poller = p;
        snprintf(s->name, sizeof s->name, "%s", bc->name);
        s->interval_s = bc->interval_s;

        r = bbb_build_url(bc->url, "getMeetings", "", bc->secret, bc->checksum, &s->request_url);
        if (r < 0)
                return log_bbb(LOG_ERR, r, s->name, "BBB server '%s': cannot build the request from url '%s': %m",
                               s->name, bc->url);

        /* The first poll is due at once. */
        r = sd_event_add_time(p->event, &s->timer, CLOCK_MONOTONIC, now_usec(CLOCK_MONOTONIC), BBB_TIMER_ACCURACY_USEC,
                              on_poll_timer, s);
        if (r < 0)
                return log_bbb(LOG_ERR, r, s->name, "Failed to add the poll timer of BBB server '%s': %m", s->name);
        (void)sd_event_source_set_description(s->timer, "bbb-poll");

        log_bbb(LOG_DEBUG, 0, s->name, "Polling BBB server '%s' at %s every %us (checksum %s).", s->name, bc->url,
                s->interval_s, strna(checksum_algo_name(bc->checksum)));
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- the poller ---- */

static long timeout_knob(long def)
{
        const char *e = getenv("SEATMETER_BBB_TIMEOUT_MS");
        uint64_t v;

        if (!e)
                return def;
        if (safe_atou64(e, &v) < 0 || v < 1 || v > BBB_TIMEOUT_KNOB_MAX_MS) {
                log_warning("Ignoring SEATMETER_BBB_TIMEOUT_MS='%s': not a number of milliseconds in 1..%d.", e,
                            BBB_TIMEOUT_KNOB_MAX_MS);
                return def;
        }
        return (long)v;
}

static BbbServer *bbb_poller_find_in(BbbServer *const *servers, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (servers[i] && streq(servers[i]->name, name))
                        return servers[i];
        return NULL;
}

static BbbServer *bbb_poller_find(const BbbPoller *p, const char *name)
{
        return bbb_poller_find_in(p->servers, p->n_servers, name);
}

BbbPoller *bbb_poller_free(BbbPoller *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_servers; i++)
                bbb_server_free(p->servers[i]);
        free(p->servers);
        if (p->multi)
                curl_multi_cleanup(p->multi);
        /* Sockets libcurl kept for reuse and did not report as removed. */
        while (p->sockets)
                bbb_socket_free(p->sockets);
        sd_event_source_disable_unref(p->curl_timer);
        sd_event_unref(p->event);
        free(p);
        return NULL;
}

int bbb_poller_new(sd_event *event, const Config *c, Store *store, BbbPoller **ret)
{
        _cleanup_(bbb_poller_freep) BbbPoller *p = NULL;
        int r;

        assert(event);
        assert(c);
        assert(ret);

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return log_error_errno(EIO, "Failed to initialise libcurl.");

        p = calloc(1, sizeof *p);
        if (!p)
                return log_oom();
        p->event = sd_event_ref(event);
        p->store = store;
        p->timeout_ms = timeout_knob(BBB_TOTAL_TIMEOUT_MS);
        p->connect_timeout_ms = MIN((long)BBB_CONNECT_TIMEOUT_MS, p->timeout_ms);

        p->multi = curl_multi_init();
        if (!p->multi)
                return log_oom();
        if (curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
            curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p) != CURLM_OK ||
            curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
            curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p) != CURLM_OK)
                return log_error_errno(EIO, "Failed to set up libcurl's multi interface.");

        r = bbb_poller_reload(p, c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(p);
        return 0;
}

int bbb_poller_reload(BbbPoller *p, const Config *c)
{
        _cleanup_free_ BbbServer **servers = NULL;
        size_t n = 0;
        int r;

        assert(p);
        assert(c);

        if (c->n_bbb > 0) {
                servers = calloc(c->n_bbb, sizeof *servers);
                if (!servers)
                        return log_oom();
        }

        /* Build the new list first, so a bad config leaves the running one untouched. */
        for (unsigned i = 0; i < c->n_bbb; i++) {
                const BbbConfig *bc = &c->bbb[i];
                BbbServer *s = NULL;

                for (size_t j = 0; j < n; j++)
                        if (streq(servers[j]->name, bc->name)) {
                                r = log_bbb(LOG_ERR, EEXIST, bc->name, "BBB server '%s' configured twice.", bc->name);
                                goto fail;
                        }
                r = bbb_server_new(p, bc, &s);
                if (r < 0)
                        goto fail;
                servers[n++] = s;
        }

        /* Unchanged servers (same request URL, hence same url, secret and checksum, and same interval)
         * keep their state, history and schedule; the fresh copies go. */
        for (size_t j = 0; j < n; j++) {
                BbbServer *old = bbb_poller_find(p, servers[j]->name);

                if (!old)
                        log_bbb(LOG_INFO, 0, servers[j]->name, "BBB server '%s' added.", servers[j]->name);
                else if (streq(old->request_url, servers[j]->request_url) && old->interval_s == servers[j]->interval_s) {
                        bbb_server_free(servers[j]);
                        servers[j] = old;
                        for (size_t k = 0; k < p->n_servers; k++)
                                if (p->servers[k] == old)
                                        p->servers[k] = NULL;
                } else
                        log_bbb(LOG_INFO, 0, servers[j]->name, "BBB server '%s' changed, state reset.",
                                servers[j]->name);
        }
        for (size_t k = 0; k < p->n_servers; k++)
                if (p->servers[k]) {
                        if (!bbb_poller_find_in(servers, n, p->servers[k]->name))
                                log_bbb(LOG_INFO, 0, p->servers[k]->name, "BBB server '%s' removed.",
                                        p->servers[k]->name);
                        bbb_server_free(p->servers[k]);
                }
        free(p->servers);
        p->servers = TAKE_PTR(servers);
        p->n_servers = n;
        return 0;

fail:
        for (size_t j = 0; j < n; j++)
                bbb_server_free(servers[j]);
        return r;
}

int bbb_poller_users_at(BbbPoller *p, const char *name, int64_t time_ms, int64_t *ret)
{
        StoreCounts c;
        int r;

        assert(ret);
        r = bbb_poller_counts_at(p, name, time_ms, &c);
        if (r > 0)
                *ret = c.users;
        return r;
}

/* The one rule of "participants of a BBB server at time_ms": known when the server was up after newest,
 * the newest poll at or before time_ms, and newest_ok, the newest successful poll at or before it, is at
 * most max_age_ms old. So one failed poll keeps the last count (the server is not down yet), for live and
 * backfilled samples alike. */
static int counts_by_rule(const BbbPollRecord *newest, const BbbPollRecord *newest_ok, int64_t time_ms,
                          int64_t max_age_ms, StoreCounts *ret)
{
        if (!newest || !newest->up || !newest_ok || time_ms - newest_ok->time_ms > max_age_ms)
                return 0;
        *ret = (StoreCounts){ .users = newest_ok->participants, .listeners = newest_ok->listeners,
                              .voice = newest_ok->voice, .video = newest_ok->video };
        return 1;
}

static BbbPollRecord record_from_row(const StoreBbbPollRow *row, bool ok)
{
        return (BbbPollRecord){ .time_ms = row->time_ms, .ok = ok, .up = row->up, .participants = row->counts.users,
                                .listeners = row->counts.listeners, .voice = row->counts.voice,
                                .video = row->counts.video };
}

int bbb_poller_counts_at(BbbPoller *p, const char *name, int64_t time_ms, StoreCounts *ret)
{
        const BbbPollRecord *newest = NULL, *newest_ok = NULL;
        BbbPollRecord stored, stored_ok;
        StoreBbbPollRow row, row_ok;
        int64_t max_age_ms, oldest = INT64_MAX;
        bool ask_store;
        BbbServer *s;

        assert(p);
        assert(name);
        assert(ret);

        s = bbb_poller_find(p, name);
        if (!s)
                return 0;
        max_age_ms = (int64_t)BBB_FRESH_INTERVALS * s->interval_s * 1000;

        for (unsigned i = 0; i < s->ring_n; i++) {
                const BbbPollRecord *e = &s->ring[i];

                oldest = MIN(oldest, e->time_ms);
                if (e->time_ms > time_ms)
                        continue;
                if (!newest || e->time_ms >= newest->time_ms)
                        newest = e;
                if (e->ok && (!newest_ok || e->time_ms >= newest_ok->time_ms))
                        newest_ok = e;
        }

        /* What memory does not reach back to, the stored polls know: a moment older than every poll
         * held (a backfilled sample; with none held yet, after a start, only one older than a fresh
         * poll could be, so that a live sample waits for the first poll), or a server up whose last
         * success may be older than the ring. */
        ask_store = p->store &&
                    ((!newest && (s->ring_n > 0 ? time_ms < oldest : time_ms < now_ms() - max_age_ms)) ||
                     (newest && newest->up && !newest_ok && time_ms - oldest <= max_age_ms));
        if (ask_store && store_bbb_polls_at(p->store, name, time_ms, time_ms - max_age_ms, &row, &row_ok) >= 0) {
                if (!newest && row.time_ms >= 0) {
                        stored = record_from_row(&row, false);
                        newest = &stored;
                }
                if (row_ok.time_ms >= 0) {
                        stored_ok = record_from_row(&row_ok, true);
                        newest_ok = &stored_ok;
                }
        }
        return counts_by_rule(newest, newest_ok, time_ms, max_age_ms, ret);
}

unsigned bbb_poller_n_up(const BbbPoller *p)
{
        unsigned n = 0;

        if (!p)
                return 0;
        for (size_t i = 0; i < p->n_servers; i++)
                n += p->servers[i]->state.up;
        return n;
}

int bbb_poller_get_state(const BbbPoller *p, const char *name, BbbServerState *ret)
{
        const BbbServer *s;

        assert(p);
        assert(name);
        assert(ret);

        s = bbb_poller_find(p, name);
        if (!s)
                return -ENOENT;
        *ret = s->state;
        return 0;
}
