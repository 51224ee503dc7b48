/* The BBB poller end to end through the real libcurl client: a test BBB server (tests/integration/
 * bbbserver.py, started here on 127.0.0.1 with an ephemeral port) verifies checksums as BBB does and is
 * told to misbehave; the poller runs on a real sd-event loop. The store is replaced by a recorder that
 * keeps what the poller hands to store_add_bbb_poll(). Also bbb_build_url(). */

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "daemon/bbb.h"
#include "daemon/checksum.h"
#include "daemon/stats.h"
#include "log.h"
#include "util.h"

#define SECRET "seatmeter-test-secret"
#define DEADLINE_MS 15000
#define RECORDED_MAX 256

/* ---- the store, recorded ---- */

typedef struct Recorded {
        bool ok, up;
        int64_t time_ms, participants, meetings, breakouts;
        char error[BBB_ERROR_MAX];
        char server[CONFIG_NAME_MAX + 1];
} Recorded;

static Recorded recorded[RECORDED_MAX];
static unsigned n_recorded;
static int store_result;

int store_add_bbb_poll(Store *s, const StoreBbbPoll *p)
{
        Recorded *r;

        assert_non_null(s);
        if (store_result < 0)
                return store_result;
        r = &recorded[n_recorded++ % RECORDED_MAX];
        *r = (Recorded){.ok = p->ok, .up = p->up, .time_ms = p->time_ms, .participants = p->participants,
                        .meetings = p->meetings, .breakouts = p->breakouts};
        snprintf(r->error, sizeof r->error, "%s", strempty(p->error));
        snprintf(r->server, sizeof r->server, "%s", p->server);
        if (!p->ok)
                assert_non_null(p->error);
        return 0;
}

int store_bbb_polls_at(Store *s, const char *server, int64_t time_ms, int64_t min_ok_ms, StoreBbbPollRow *ret_newest,
                       StoreBbbPollRow *ret_newest_ok)
{
        /* The fake history: a successful poll just before any moment asked, with 3 users (2 listening, 1
         * with a microphone), as the poller's rule reads it when its memory does not reach back. */
        *ret_newest = *ret_newest_ok = (StoreBbbPollRow){
                .time_ms = time_ms - 1, .up = true, .counts = { .users = 3, .listeners = 2, .voice = 1, .video = 0 } };
        return 0;
}

static const Recorded *last_recorded(void)
{
        assert_true(n_recorded > 0);
        return &recorded[(n_recorded - 1) % RECORDED_MAX];
}

/* ---- the test server ---- */

typedef struct TestServer {
        pid_t pid;
        unsigned port;
        char url[128];
} TestServer;

static TestServer server = {.pid = -1};

/* Starts bbbserver.py with extra arguments (NULL-terminated) and waits for its port. */
static int server_start(TestServer *t, const char *algorithms, const char *const *extra)
{
        const char *script = getenv("BBB_TEST_SERVER");
        const char *argv[16] = {"python3", script, "--secret", SECRET, "--algorithms", algorithms};
        char line[256] = {0};
        size_t got = 0, n_argv = 6;
        int fds[2];
        int64_t deadline;

        if (!script)
                return -ENOENT;
        for (; extra && *extra && n_argv < ELEMENTSOF(argv) - 1; extra++)
                argv[n_argv++] = *extra;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        t->pid = fork();
        if (t->pid < 0)
                return -errno;
        if (t->pid == 0) {
                (void)dup2(fds[1], STDOUT_FILENO);
                execvp("python3", (char *const *)argv);
                _exit(127);
        }
        close(fds[1]);

        /* Wait for "bbbserver listening on 127.0.0.1:PORT" with a deadline. */
        deadline = now_ms() + DEADLINE_MS;
        while (!strchr(line, '\n')) {
                struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
                ssize_t n;
                int64_t left = deadline - now_ms();

                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 || got >= sizeof line - 1)
                        break;
                n = read(fds[0], line + got, sizeof line - 1 - got);
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        close(fds[0]);
        if (sscanf(line, "bbbserver listening on 127.0.0.1:%u", &t->port) != 1)
                return -EIO;
        snprintf(t->url, sizeof t->url, "http%s://127.0.0.1:%u/bigbluebutton/", extra ? "s" : "", t->port);
        return 0;
}

static void test_server_stop(TestServer *t)
{
        if (t->pid > 0) {
                (void)kill(t->pid, SIGTERM);
                (void)waitpid(t->pid, NULL, 0);
        }
        t->pid = -1;
}

static void server_stop(void)
{
        test_server_stop(&server);
}

static size_t sink(char *data, size_t size, size_t nmemb, void *userdata)
{
        char *buf = userdata;
        size_t n = size * nmemb, have = strlen(buf);

        if (have + n < 4096) {
                memcpy(buf + have, data, n);
                buf[have + n] = 0;
        }
        return n;
}

/* GETs path on the test server (blocking: test code, not the poller) and returns the body. */
static void server_get(const char *path, char body[static 4096])
{
        char url[512];
        long status = 0;
        CURL *e = curl_easy_init();

        assert_non_null(e);
        body[0] = 0;
        snprintf(url, sizeof url, "http://127.0.0.1:%u%s", server.port, path);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
        assert_int_equal(curl_easy_perform(e), CURLE_OK);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        assert_int_equal(status, 200);
        curl_easy_cleanup(e);
}

static void server_control(const char *query)
{
        char path[512], body[4096];

        snprintf(path, sizeof path, "/_control?%s", query);
        server_get(path, body);
}

/* ---- the poller on a loop ---- */

typedef struct Fixture {
        sd_event *event;
        Config config;
        BbbConfig bbb[2];
        BbbPoller *poller;
        int dummy_store;
} Fixture;

static void fixture_config(Fixture *f, const char *name, const char *url, const char *secret, ChecksumAlgo algo)
{
        BbbConfig *b = &f->bbb[f->config.n_bbb++];

        *b = (BbbConfig){.checksum = algo, .interval_s = 1};
        snprintf(b->name, sizeof b->name, "%s", name);
        snprintf(b->url, sizeof b->url, "%s", url);
        b->secret = (char *)secret;
        f->config.bbb = f->bbb;
}

static void fixture_start(Fixture *f, bool with_store)
{
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(bbb_poller_new(f->event, &f->config, with_store ? (Store *)&f->dummy_store : NULL, &f->poller),
                         0);
}

static void fixture_stop(Fixture *f)
{
        f->poller = bbb_poller_free(f->poller);
        f->event = sd_event_unref(f->event);
}

static BbbServerState state_of(Fixture *f, const char *name)
{
        BbbServerState st;

        assert_int_equal(bbb_poller_get_state(f->poller, name, &st), 0);
        return st;
}

/* Runs the loop until the server has made polls polls in all (or the deadline passes). */
static BbbServerState run_until_polls(Fixture *f, const char *name, uint64_t polls)
{
        int64_t deadline = now_ms() + DEADLINE_MS;

        while (state_of(f, name).polls < polls) {
                if (now_ms() > deadline)
                        fail_msg("timed out waiting for poll %" PRIu64 " of '%s'", polls, name);
                assert_true(sd_event_run(f->event, 100 * USEC_PER_MSEC) >= 0);
        }
        return state_of(f, name);
}

static BbbServerState run_one_poll(Fixture *f, const char *name)
{
        return run_until_polls(f, name, state_of(f, name).polls + 1);
}

static int group_setup(void **state)
{
        int r;

        log_open("test-bbb");
        if (getenv("SEATMETER_TEST_VERBOSE"))
                log_set_max_level(LOG_DEBUG);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = server_start(&server, "sha1,sha256,sha384,sha512", NULL);
        if (r < 0) {
                fprintf(stderr, "cannot start the test BBB server: %s\n", strerror(-r));
                server_stop();
                return -1;
        }
        return 0;
}

static int group_teardown(void **state)
{
        server_stop();
        curl_global_cleanup();
        return 0;
}

static int test_setup(void **state)
{
        server_control("mode=ok&delay_ms=0&sep=&participants=1&breakouts=&algorithms=sha1,sha256,sha384,sha512");
        n_recorded = 0;
        store_result = 0;
        return 0;
}

/* ---- tests ---- */

static void test_build_url(void **state)
{
        _cleanup_free_ char *u = NULL, *v = NULL, *w = NULL, *x = NULL;
        char hex[CHECKSUM_HEX_MAX + 1];
        char *y = NULL;

        assert_int_equal(bbb_build_url("https://bbb1.example.org/bigbluebutton/", "getMeetings", "", SECRET,
                                       CHECKSUM_SHA1, &u),
                         0);
        assert_string_equal(u, "https://bbb1.example.org/bigbluebutton/api/getMeetings?checksum="
                               "e318cd2e8e158c1dd7cdbe4e139b0db7d38c6cdb");
        /* a missing "/" is added; an "api" folder already named is not doubled */
        assert_int_equal(bbb_build_url("https://h/bigbluebutton", "getMeetings", NULL, SECRET, CHECKSUM_SHA256, &v), 0);
        assert_string_equal(v, "https://h/bigbluebutton/api/getMeetings?checksum="
                               "f1760cbb7334ba68e146e838cda179adb5d65e61cc5a76c6ed4fb8833cec4730");
        assert_int_equal(bbb_build_url("http://h/bigbluebutton/api", "getMeetings", "", SECRET, CHECKSUM_SHA1, &w), 0);
        assert_string_equal(w, "http://h/bigbluebutton/api/getMeetings?checksum=e318cd2e8e158c1dd7cdbe4e139b0db7d38c6cdb");
        /* the checksum covers the exact query string sent */
        assert_int_equal(bbb_build_url("http://h/b/", "getMeetingInfo", "meetingID=m1&password=mod-pw", SECRET,
                                       CHECKSUM_SHA256, &x),
                         0);
        assert_int_equal(checksum_api_hex(CHECKSUM_SHA256, "getMeetingInfo", "meetingID=m1&password=mod-pw", SECRET, hex),
                         64);
        assert_string_equal(x, "http://h/b/api/getMeetingInfo?meetingID=m1&password=mod-pw&checksum="
                               "42c55090d3b4eb06ff019d01491238add8fc4bcc4e37e6572e06fb0d51608df7");

        assert_int_equal(bbb_build_url("ftp://h/", "getMeetings", "", SECRET, CHECKSUM_SHA1, &y), -EINVAL);
        assert_int_equal(bbb_build_url("", "getMeetings", "", SECRET, CHECKSUM_SHA1, &y), -EINVAL);
        assert_int_equal(bbb_build_url("http://h/", "get Meetings", "", SECRET, CHECKSUM_SHA1, &y), -EINVAL);
        assert_int_equal(bbb_build_url("http://h/", "getMeetings", "a=b c", SECRET, CHECKSUM_SHA1, &y), -EINVAL);
        assert_int_equal(bbb_build_url("http://h/", "getMeetings", "a=b#c", SECRET, CHECKSUM_SHA1, &y), -EINVAL);
        assert_int_equal(bbb_build_url("http://h/", "getMeetings", "", SECRET, (ChecksumAlgo)9, &y), -EINVAL);
        assert_null(y);
}

static void test_every_algorithm(void **state)
{
        static const ChecksumAlgo algos[] = {CHECKSUM_SHA1, CHECKSUM_SHA256, CHECKSUM_SHA384, CHECKSUM_SHA512};

        for (size_t i = 0; i < ELEMENTSOF(algos); i++) {
                const char *name = checksum_algo_name(algos[i]);
                char q[128], body[4096], needle[64];
                Fixture f = {0};
                BbbServerState st;
                int64_t users = -1;

                /* the server accepts only this algorithm, as BBB's supportedChecksumAlgorithms can say */
                snprintf(q, sizeof q, "algorithms=%s&participants=4,3&breakouts=2", name);
                server_control(q);
                server_get("/_reset", body);

                fixture_config(&f, "bbb1", server.url, SECRET, algos[i]);
                fixture_start(&f, true);
                st = run_one_poll(&f, "bbb1");
                assert_string_equal(st.error, "");
                assert_true(st.up);
                assert_int_equal(st.counts.meetings, 3);
                assert_int_equal(st.counts.participants, 9);
                assert_int_equal(st.counts.breakouts, 1);
                assert_int_equal(bbb_poller_n_up(f.poller), 1);
                assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", now_ms(), &users), 1);
                assert_int_equal(users, 9);

                assert_true(last_recorded()->ok);
                assert_true(last_recorded()->up);
                assert_int_equal(last_recorded()->participants, 9);
                assert_string_equal(last_recorded()->server, "bbb1");

                server_get("/_stats", body);
                snprintf(needle, sizeof needle, "\"%s\": 1", name);
                if (!strstr(body, needle))
                        fail_msg("server stats '%s' lack %s", body, needle);
                fixture_stop(&f);
        }
}

static void test_wrong_secret_goes_down(void **state)
{
        Fixture f = {0};
        BbbServerState st;
        uint64_t errors = STATS_GET(bbb_poll_errors);
        int64_t users = -1;

        fixture_config(&f, "bbb1", server.url, "not-the-secret", CHECKSUM_SHA256);
        fixture_start(&f, true);

        st = run_one_poll(&f, "bbb1");
        assert_false(st.up);
        assert_false(st.down); /* one failure: not judged yet */
        assert_non_null(strstr(st.error, "checksumError"));
        assert_null(strstr(st.error, "not-the-secret"));
        assert_false(last_recorded()->ok);
        assert_non_null(strstr(last_recorded()->error, "checksumError"));

        st = run_one_poll(&f, "bbb1");
        assert_true(st.down);
        assert_false(st.up);
        assert_int_equal(st.failures, 2);
        assert_int_equal(bbb_poller_n_up(f.poller), 0);
        assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", now_ms(), &users), 0);
        assert_int_equal(users, -1);
        assert_false(last_recorded()->up);
        assert_true(STATS_GET(bbb_poll_errors) >= errors + 2);
        fixture_stop(&f);
}

static void test_algorithm_not_allowed(void **state)
{
        Fixture f = {0};
        BbbServerState st;

        server_control("algorithms=sha512");
        fixture_config(&f, "bbb1", server.url, SECRET, CHECKSUM_SHA1);
        fixture_start(&f, false);
        st = run_one_poll(&f, "bbb1");
        assert_false(st.up);
        assert_non_null(strstr(st.error, "checksumError"));
        fixture_stop(&f);
}

static void test_state_machine(void **state)
{
        Fixture f = {0};
        BbbServerState st;
        int64_t users = -1, t_up;

        server_control("participants=5");
        fixture_config(&f, "bbb1", server.url, SECRET, CHECKSUM_SHA256);
        fixture_start(&f, true);

        st = run_one_poll(&f, "bbb1");
        assert_true(st.up);
        assert_int_equal(st.counts.participants, 5);
        t_up = now_ms();

        /* one failure: still up, the last count still fresh */
        server_control("mode=http500");
        st = run_one_poll(&f, "bbb1");
        assert_true(st.up);
        assert_int_equal(st.failures, 1);
        assert_string_equal(st.error, "HTTP status 500");
        assert_false(last_recorded()->ok);
        assert_true(last_recorded()->up);
        assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", now_ms(), &users), 1);
        assert_int_equal(users, 5);

        /* two failures: down, counts unknown (not zero) */
        st = run_one_poll(&f, "bbb1");
        assert_false(st.up);
        assert_true(st.down);
        assert_false(last_recorded()->up);
        users = -1;
        assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", now_ms(), &users), 0);
        assert_int_equal(users, -1);
        /* the moment it was up is still known */
        assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", t_up, &users), 1);
        assert_int_equal(users, 5);
        /* before anything in memory: the store's history answers */
        assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", t_up - 3600 * 1000, &users), 1);
        assert_int_equal(users, 3);

        /* one success: up again */
        server_control("mode=ok&participants=6");
        st = run_one_poll(&f, "bbb1");
        assert_true(st.up);
        assert_false(st.down);
        assert_int_equal(st.failures, 0);
        assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", now_ms(), &users), 1);
        assert_int_equal(users, 6);
        /* not fresh any more 2 intervals later */
        assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", now_ms() + 2500, &users), 0);
        /* unknown server */
        assert_int_equal(bbb_poller_users_at(f.poller, "nope", now_ms(), &users), 0);
        fixture_stop(&f);
}

static void test_timeout(void **state)
{
        Fixture f = {0};
        BbbServerState st;
        int64_t t0;

        assert_int_equal(setenv("SEATMETER_BBB_TIMEOUT_MS", "400", 1), 0);
        server_control("delay_ms=3000");
        fixture_config(&f, "bbb1", server.url, SECRET, CHECKSUM_SHA256);
        fixture_start(&f, false);

        t0 = now_ms();
        st = run_one_poll(&f, "bbb1");
        assert_false(st.up);
        assert_non_null(strstr(st.error, "imed out"));
        assert_true(now_ms() - t0 < 1500);
        st = run_one_poll(&f, "bbb1");
        assert_true(st.down);

        server_control("delay_ms=0");
        st = run_one_poll(&f, "bbb1");
        assert_true(st.up);
        fixture_stop(&f);
        assert_int_equal(unsetenv("SEATMETER_BBB_TIMEOUT_MS"), 0);
}

static void test_bad_answers(void **state)
{
        static const struct {
                const char *control;
                bool ok;
                const char *needle;
                int64_t participants;
        } v[] = {
                {"mode=failed&failed_key=internalError", false, "FAILED internalError", 0},
                {"mode=garbage", false, "bad answer: not XML", 0},
                {"mode=truncated&participants=3,4", false, "bad answer: not XML", 0},
                {"mode=html", false, "bad answer", 0},
                {"mode=huge", false, "larger than", 0},
                {"mode=redirect_loop", false, "edirect", 0},
                {"mode=redirect&participants=2,2", true, "", 4},
                {"mode=no_meetings_element", true, "", 0},
                {"mode=ok&participants=", true, "", 0},
                {"mode=ok&participants=1500,20&sep=.", true, "", 1520},
                {"mode=ok&participants=2000&sep=nbsp", true, "", 2000},
        };
        Fixture f = {0};

        fixture_config(&f, "bbb1", server.url, SECRET, CHECKSUM_SHA256);
        fixture_start(&f, true);
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                BbbServerState st;

                server_control(v[i].control);
                st = run_one_poll(&f, "bbb1");
                if (last_recorded()->ok != v[i].ok || !strstr(last_recorded()->error, v[i].needle))
                        fail_msg("%s: ok=%d error '%s', wanted ok=%d with '%s'", v[i].control, last_recorded()->ok,
                                 last_recorded()->error, v[i].ok, v[i].needle);
                if (v[i].ok) {
                        assert_int_equal(st.counts.participants, v[i].participants);
                        assert_int_equal(last_recorded()->participants, v[i].participants);
                }
        }
        fixture_stop(&f);
}

static void test_connection_refused(void **state)
{
        Fixture f = {0};
        BbbServerState st;
        char url[128];
        int fd;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;

        /* a port that was just free: bound then closed */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        snprintf(url, sizeof url, "http://127.0.0.1:%u/bigbluebutton/", ntohs(sa.sin_port));

        fixture_config(&f, "gone", url, SECRET, CHECKSUM_SHA1);
        fixture_start(&f, false);
        st = run_one_poll(&f, "gone");
        assert_false(st.up);
        assert_true(strlen(st.error) > 0);
        st = run_one_poll(&f, "gone");
        assert_true(st.down);
        fixture_stop(&f);
}

static void test_step_participants(void **state)
{
        Fixture f = {0};

        fixture_config(&f, "bbb1", server.url, SECRET, CHECKSUM_SHA256);
        fixture_start(&f, true);
        for (int n = 1; n <= 4; n++) {
                char q[64];
                int64_t users = -1;

                snprintf(q, sizeof q, "participants=%d", n);
                server_control(q);
                assert_int_equal(run_one_poll(&f, "bbb1").counts.participants, n);
                assert_int_equal(bbb_poller_users_at(f.poller, "bbb1", now_ms(), &users), 1);
                assert_int_equal(users, n);
        }
        fixture_stop(&f);
}

static void test_store_failure(void **state)
{
        Fixture f = {0};

        store_result = -EIO;
        fixture_config(&f, "bbb1", server.url, SECRET, CHECKSUM_SHA256);
        fixture_start(&f, true);
        /* polling carries on; the failure is logged once */
        assert_true(run_one_poll(&f, "bbb1").up);
        assert_true(run_one_poll(&f, "bbb1").up);
        store_result = 0;
        assert_true(run_one_poll(&f, "bbb1").up);
        assert_true(last_recorded()->ok);
        fixture_stop(&f);
}

static void test_reload(void **state)
{
        Fixture f = {0};
        Config c2 = {0};
        BbbConfig b2[2];
        BbbServerState st;

        fixture_config(&f, "bbb1", server.url, SECRET, CHECKSUM_SHA256);
        fixture_start(&f, false);
        st = run_one_poll(&f, "bbb1");
        assert_true(st.up);

        /* same bbb1 (keeps its state) plus bbb2 */
        b2[0] = f.bbb[0];
        b2[1] = f.bbb[0];
        snprintf(b2[1].name, sizeof b2[1].name, "bbb2");
        b2[1].checksum = CHECKSUM_SHA512;
        c2.n_bbb = 2;
        c2.bbb = b2;
        assert_int_equal(bbb_poller_reload(f.poller, &c2), 0);
        assert_int_equal(state_of(&f, "bbb1").polls, st.polls);
        assert_true(state_of(&f, "bbb1").up);
        assert_true(run_one_poll(&f, "bbb2").up);
        assert_int_equal(bbb_poller_n_up(f.poller), 2);

        /* bbb1 removed, bbb2 changed (wrong secret): it starts over */
        b2[0] = b2[1];
        b2[0].secret = (char *)"wrong";
        c2.n_bbb = 1;
        assert_int_equal(bbb_poller_reload(f.poller, &c2), 0);
        assert_int_equal(bbb_poller_get_state(f.poller, "bbb1", &st), -ENOENT);
        assert_int_equal(state_of(&f, "bbb2").polls, 0);
        st = run_one_poll(&f, "bbb2");
        assert_false(st.up);
        assert_non_null(strstr(st.error, "checksumError"));

        /* a bad config (duplicate names) leaves the running one alone */
        b2[1] = b2[0];
        c2.n_bbb = 2;
        assert_int_equal(bbb_poller_reload(f.poller, &c2), -EEXIST);
        assert_int_equal(state_of(&f, "bbb2").polls, 1);

        /* no secret loaded: refused */
        b2[0].secret = NULL;
        c2.n_bbb = 1;
        assert_int_equal(bbb_poller_reload(f.poller, &c2), -EINVAL);
        fixture_stop(&f);
}

/* A self-signed certificate is refused: TLS is verified against the system's CAs. */
static void test_tls_verified(void **state)
{
        char dir[] = "/tmp/seatmeter-test-bbb-XXXXXX", cert[128], key[128], cmd[512];
        const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
        TestServer tls = {.pid = -1};
        Fixture f = {0};
        BbbServerState st;
        int r;

        assert_non_null(mkdtemp(dir));
        snprintf(cert, sizeof cert, "%s/cert.pem", dir);
        snprintf(key, sizeof key, "%s/key.pem", dir);
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                 "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
                 key, cert);
        r = system(cmd);
        if (r != 0) {
                snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
                (void)system(cmd);
                skip(); /* no openssl command here */
        }
        r = server_start(&tls, "sha256", extra);
        (void)unlink(cert);
        (void)unlink(key);
        (void)rmdir(dir);
        if (r < 0) {
                test_server_stop(&tls);
                fail_msg("cannot start the TLS test server: %s", strerror(-r));
        }

        fixture_config(&f, "tls", tls.url, SECRET, CHECKSUM_SHA256);
        fixture_start(&f, false);
        st = run_one_poll(&f, "tls");
        test_server_stop(&tls);
        assert_false(st.up);
        if (!strstr(st.error, "certificate") && !strstr(st.error, "SSL"))
                fail_msg("wanted a certificate error, got '%s'", st.error);
        fixture_stop(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build_url),
                cmocka_unit_test_setup(test_every_algorithm, test_setup),
                cmocka_unit_test_setup(test_wrong_secret_goes_down, test_setup),
                cmocka_unit_test_setup(test_algorithm_not_allowed, test_setup),
                cmocka_unit_test_setup(test_state_machine, test_setup),
                cmocka_unit_test_setup(test_timeout, test_setup),
                cmocka_unit_test_setup(test_bad_answers, test_setup),
                cmocka_unit_test_setup(test_connection_refused, test_setup),
                cmocka_unit_test_setup(test_step_participants, test_setup),
                cmocka_unit_test_setup(test_store_failure, test_setup),
                cmocka_unit_test_setup(test_reload, test_setup),
                cmocka_unit_test_setup(test_tls_verified, test_setup),
        };

        if (!getenv("BBB_TEST_SERVER")) {
                printf("SKIP: BBB_TEST_SERVER is not set\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
