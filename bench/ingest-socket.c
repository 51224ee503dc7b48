/* Ingest benchmark, the C half (bench/ingest-socket.py builds and drives it).
 *
 *   ingest-socket load UNIX_PATH AGENTS SAMPLES BATCH WINDOW
 *       AGENTS connections to seatmeterd's unix socket, each a simulated agent: Hello, then SAMPLES
 *       pre-encoded samples (Sample frames when BATCH is 1, SampleBatch frames of BATCH samples
 *       otherwise), sent as fast as Acks allow: at most WINDOW samples unacknowledged per agent. Timing
 *       starts after the last Welcome and ends with the last Ack (committed to disk, acknowledged).
 *   ingest-socket raw DB_PATH SCHEMA_SQL AGENTS SAMPLES COMMIT
 *       The same rows inserted by a minimal loop: the schema's samples table, the store's pragmas (WAL,
 *       synchronous=NORMAL, 16 MiB cache), one prepared INSERT, COMMIT rows per transaction in the
 *       store's write order (sorted by agent inside each commit).
 *
 * Both print key=value lines on stdout. Limits: AGENTS <= 10000, SAMPLES <= 1000000, BATCH <= 10000. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "proto/seatmeter.pb-c.h"

#define AGENTS_MAX 10000
#define SAMPLES_MAX 1000000
#define BATCH_MAX 10000
#define IN_MAX (64 * 1024)
#define SCHEMA_MAX (1024 * 1024)

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
        fprintf(stderr, "ingest-socket: %s: %s\n", what, strerror(errno));
        exit(1);
}

static size_t varint_put(uint64_t v, uint8_t *out)
{
        size_t n = 0;
        do {
                out[n] = (uint8_t)(v & 0x7f);
                v >>= 7;
                if (v)
                        out[n] |= 0x80;
                n++;
        } while (v);
        return n;
}

/* Appends f with its varint length to buf. */
static void frame_append(const Seatmeter__Frame *f, uint8_t **buf, size_t *size, size_t *alloc)
{
        size_t body = seatmeter__frame__get_packed_size(f);
        if (*size + body + 10 > *alloc) {
                *alloc = (*size + body + 10) * 2;
                *buf = realloc(*buf, *alloc);
                if (!*buf)
                        die("realloc");
        }
        *size += varint_put(body, *buf + *size);
        *size += seatmeter__frame__pack(f, *buf + *size);
}

/* What the load generator sends and the raw loop inserts: plausible counters of a 2-CPU guest. */
typedef struct Row {
        int64_t time_ms;
        uint64_t seq, cpu_usage, cpu_user, cpu_system, periods, throttled, throttled_usec;
        uint64_t mem, ws, cache, anon, swap, oom, io_rb, io_wb, io_ro, io_wo, rx, tx, rxp, txp;
} Row;

static void make_row(unsigned agent, uint64_t seq, int64_t base_ms, Row *r)
{
        uint64_t k = seq;
        memset(r, 0, sizeof *r);
        r->seq = seq;
        r->time_ms = base_ms + (int64_t)k * 1000;
        r->cpu_usage = k * 600000 + agent * 7;
        r->cpu_user = k * 450000;
        r->cpu_system = k * 150000;
        r->periods = k * 10;
        r->throttled = k / 3;
        r->throttled_usec = k * 2100;
        r->mem = (1500ULL << 20) + (k % 97) * 4096 * 13;
        r->ws = r->mem - (300ULL << 20);
        r->cache = 400ULL << 20;
        r->anon = 1000ULL << 20;
        r->swap = 0;
        r->io_rb = k * 40960;
        r->io_wb = k * 123456;
        r->io_ro = k * 10;
        r->io_wo = k * 31;
        r->rx = k * 2500000 + agent;
        r->tx = k * 1800000;
        r->rxp = k * 2100;
        r->txp = k * 1900;
}

static void row_to_sample(const Row *r, Seatmeter__Sample *s, Seatmeter__NetDev *nd, Seatmeter__NetDev **ndp,
                          Seatmeter__Pressure *p)
{
        seatmeter__sample__init(s);
        seatmeter__net_dev__init(nd);
        seatmeter__pressure__init(p);
#define SET(field, v) (s->has_##field = true, s->field = (v))
        SET(seq, r->seq);
        SET(time_ms, r->time_ms);
        SET(cpu_usage_usec, r->cpu_usage);
        SET(cpu_user_usec, r->cpu_user);
        SET(cpu_system_usec, r->cpu_system);
        SET(cpu_nr_periods, r->periods);
        SET(cpu_nr_throttled, r->throttled);
        SET(cpu_throttled_usec, r->throttled_usec);
        SET(memory_usage_bytes, r->mem);
        SET(memory_working_set_bytes, r->ws);
        SET(memory_cache_bytes, r->cache);
        SET(memory_anon_bytes, r->anon);
        SET(memory_swap_bytes, r->swap);
        SET(memory_oom_kills, r->oom);
        SET(io_read_bytes, r->io_rb);
        SET(io_write_bytes, r->io_wb);
        SET(io_read_ops, r->io_ro);
        SET(io_write_ops, r->io_wo);
#undef SET
        nd->name = (char *)"eth0";
        nd->has_rx_bytes = nd->has_tx_bytes = nd->has_rx_packets = nd->has_tx_packets = true;
        nd->has_rx_errors = nd->has_tx_errors = nd->has_rx_dropped = nd->has_tx_dropped = true;
        nd->rx_bytes = r->rx;
        nd->tx_bytes = r->tx;
        nd->rx_packets = r->rxp;
        nd->tx_packets = r->txp;
        *ndp = nd;
        s->n_net = 1;
        s->net = ndp;
        p->has_some_avg10 = p->has_some_avg60 = p->has_some_total_usec = true;
        p->some_avg10 = 1.25;
        p->some_avg60 = 0.8;
        p->some_total_usec = r->throttled_usec * 3;
        s->cpu_pressure = p;
}

typedef struct Conn {
        int fd;
        uint8_t *out;
        size_t out_size, out_pos;
        size_t *frame_end;    /* byte offset after each frame */
        uint64_t *frame_seq;  /* last seq in each frame */
        size_t n_frames, next_frame;
        uint64_t acked;
        uint8_t in[IN_MAX];
        size_t in_size;
        bool done, want_out;
} Conn;

/* Reads what is there and handles complete frames: the Welcome (returns 1 once seen) and Acks. */
static int conn_read(Conn *c, bool *ret_welcome)
{
        for (;;) {
                ssize_t n = recv(c->fd, c->in + c->in_size, sizeof c->in - c->in_size, MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                if (n <= 0) {
                        fprintf(stderr, "ingest-socket: the daemon closed a connection\n");
                        exit(1);
                }
                c->in_size += (size_t)n;
                for (;;) {
                        uint64_t len = 0;
                        size_t i = 0;
                        unsigned shift = 0;
                        Seatmeter__Frame *f;

                        while (i < c->in_size && i < 10) {
                                len |= (uint64_t)(c->in[i] & 0x7f) << shift;
                                shift += 7;
                                if (!(c->in[i++] & 0x80))
                                        goto have_len;
                        }
                        break;
                have_len:
                        if (len > IN_MAX - 16) {
                                fprintf(stderr, "ingest-socket: frame of %" PRIu64 " bytes from the daemon\n", len);
                                exit(1);
                        }
                        if (c->in_size < i + len)
                                break;
                        f = seatmeter__frame__unpack(NULL, len, c->in + i);
                        if (!f) {
                                fprintf(stderr, "ingest-socket: bad frame from the daemon\n");
                                exit(1);
                        }
                        if (f->msg_case == SEATMETER__FRAME__MSG_WELCOME) {
                                if (!f->welcome->accepted) {
                                        fprintf(stderr, "ingest-socket: refused: %s\n", f->welcome->reason);
                                        exit(1);
                                }
                                if (ret_welcome)
                                        *ret_welcome = true;
                        } else if (f->msg_case == SEATMETER__FRAME__MSG_ACK && f->ack->up_to_seq > c->acked)
                                c->acked = f->ack->up_to_seq;
                        seatmeter__frame__free_unpacked(f, NULL);
                        memmove(c->in, c->in + i + len, c->in_size - i - len);
                        c->in_size -= i + len;
                }
        }
        return 0;
}

static int cmd_load(const char *path, unsigned agents, unsigned samples, unsigned batch, unsigned window)
{
        Conn *conns = calloc(agents, sizeof *conns);
        int64_t base = wall_ms() - (int64_t)(samples + 10) * 1000;
        size_t wire = 0;
        unsigned done = 0;
        double t0, t1;
        int ep;

        if (!conns)
                die("calloc");
        for (unsigned a = 0; a < agents; a++) {
                Conn *c = &conns[a];
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                Seatmeter__Frame f = SEATMETER__FRAME__INIT;
                Seatmeter__Hello h = SEATMETER__HELLO__INIT;
                size_t alloc = 0;
                char id[32];

                c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
                if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                        die("connect");
                snprintf(id, sizeof id, "bench-%04u", a);
                h.has_protocol_version = h.has_clock_ms = true;
                h.protocol_version = 1;
                h.clock_ms = wall_ms();
                h.agent_id = id;
                h.machine_id = (char *)"bench";
                h.hostname = (char *)"bench";
                f.msg_case = SEATMETER__FRAME__MSG_HELLO;
                f.hello = &h;
                frame_append(&f, &c->out, &c->out_size, &alloc);
                c->out_pos = c->out_size; /* the Hello goes first, alone */
                if (send(c->fd, c->out, c->out_size, MSG_NOSIGNAL) != (ssize_t)c->out_size)
                        die("send Hello");

                c->n_frames = (samples + batch - 1) / batch;
                c->frame_end = calloc(c->n_frames, sizeof(size_t));
                c->frame_seq = calloc(c->n_frames, sizeof(uint64_t));
                if (!c->frame_end || !c->frame_seq)
                        die("calloc");
                for (size_t fi = 0; fi < c->n_frames; fi++) {
                        Seatmeter__Frame fr = SEATMETER__FRAME__INIT;
                        Seatmeter__SampleBatch b = SEATMETER__SAMPLE_BATCH__INIT;
                        unsigned first = (unsigned)(fi * batch) + 1, last = first + batch - 1;
                        Seatmeter__Sample *ss;
                        Seatmeter__Sample **ssp;
                        Seatmeter__NetDev *nd, **ndp;
                        Seatmeter__Pressure *pr;
                        unsigned n;
                        Row r;

                        if (last > samples)
                                last = samples;
                        n = last - first + 1;
                        ss = calloc(n, sizeof *ss);
                        ssp = calloc(n, sizeof *ssp);
                        nd = calloc(n, sizeof *nd);
                        ndp = calloc(n, sizeof *ndp);
                        pr = calloc(n, sizeof *pr);
                        if (!ss || !ssp || !nd || !ndp || !pr)
                                die("calloc");
                        for (unsigned k = 0; k < n; k++) {
                                make_row(a, first + k, base, &r);
                                row_to_sample(&r, &ss[k], &nd[k], &ndp[k], &pr[k]);
                                ssp[k] = &ss[k];
                        }
                        if (batch == 1) {
                                fr.msg_case = SEATMETER__FRAME__MSG_SAMPLE;
                                fr.sample = &ss[0];
                        } else {
                                b.n_samples = n;
                                b.samples = ssp;
                                fr.msg_case = SEATMETER__FRAME__MSG_BATCH;
                                fr.batch = &b;
                        }
                        frame_append(&fr, &c->out, &c->out_size, &alloc);
                        c->frame_end[fi] = c->out_size;
                        c->frame_seq[fi] = last;
                        free(ss);
                        free(ssp);
                        free(nd);
                        free(ndp);
                        free(pr);
                }
                wire += c->out_size - c->out_pos;
        }

        /* Wait for every Welcome. */
        for (unsigned a = 0; a < agents; a++) {
                bool welcome = false;
                while (!welcome) {
                        struct pollfd p = {.fd = conns[a].fd, .events = POLLIN};
                        if (poll(&p, 1, 10000) <= 0) {
                                fprintf(stderr, "ingest-socket: no Welcome\n");
                                return 1;
                        }
                        conn_read(&conns[a], &welcome);
                }
                fcntl(conns[a].fd, F_SETFL, O_NONBLOCK);
        }

        ep = epoll_create1(EPOLL_CLOEXEC);
        for (unsigned a = 0; a < agents; a++) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = a};
                conns[a].want_out = true;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[a].fd, &ev) < 0)
                        die("epoll_ctl");
        }

        t0 = now_s();
        while (done < agents) {
                struct epoll_event evs[256];
                int n = epoll_wait(ep, evs, 256, 30000);
                if (n <= 0) {
                        fprintf(stderr, "ingest-socket: stalled (%u of %u agents done)\n", done, agents);
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        Conn *c = &conns[evs[i].data.u32];
                        bool want;

                        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                                conn_read(c, NULL);
                        /* send whole frames while the window allows */
                        while (c->next_frame < c->n_frames && c->frame_seq[c->next_frame] - c->acked <= window) {
                                size_t end = c->frame_end[c->next_frame];
                                ssize_t w = send(c->fd, c->out + c->out_pos, end - c->out_pos,
                                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                                if (w < 0 && (errno == EAGAIN || errno == EINTR))
                                        break;
                                if (w < 0)
                                        die("send");
                                c->out_pos += (size_t)w;
                                if (c->out_pos == end)
                                        c->next_frame++;
                        }
                        want = c->next_frame < c->n_frames && c->frame_seq[c->next_frame] - c->acked <= window;
                        if (want != c->want_out) {
                                struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                                         .data.u32 = evs[i].data.u32};
                                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                                c->want_out = want;
                        }
                        if (!c->done && c->acked >= samples) {
                                c->done = true;
                                done++;
                        }
                }
        }
        t1 = now_s();

        printf("samples=%llu\n", (unsigned long long)agents * samples);
        printf("seconds=%.3f\n", t1 - t0);
        printf("samples_per_s=%.0f\n", (double)agents * samples / (t1 - t0));
        printf("wire_bytes_per_sample=%.1f\n", (double)wire / ((double)agents * samples));
        for (unsigned a = 0; a < agents; a++) {
                close(conns[a].fd);
                free(conns[a].out);
                free(conns[a].frame_end);
                free(conns[a].frame_seq);
        }
        free(conns);
        close(ep);
        return 0;
}

static void sql(sqlite3 *db, const char *s)
{
        char *err = NULL;
        if (sqlite3_exec(db, s, NULL, NULL, &err) != SQLITE_OK) {
                fprintf(stderr, "ingest-socket: %s: %s\n", s, err);
                exit(1);
        }
}

static int cmd_raw(const char *path, const char *schema_path, unsigned agents, unsigned samples, unsigned commit)
{
        int64_t base = wall_ms() - (int64_t)(samples + 10) * 1000;
        uint64_t done = 0;
        char *schema = calloc(1, SCHEMA_MAX + 1);
        sqlite3_stmt *st;
        sqlite3 *db;
        double t0, t1;
        FILE *f;
        size_t n;

        if (!schema || !(f = fopen(schema_path, "re")))
                die(schema_path);
        n = fread(schema, 1, SCHEMA_MAX, f);
        fclose(f);
        schema[n] = 0;
        if (sqlite3_open(path, &db) != SQLITE_OK)
                die(path);
        sql(db, "PRAGMA journal_mode = WAL");
        sql(db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY");
        sql(db, schema);
        if (sqlite3_prepare_v2(db,
                               "INSERT OR IGNORE INTO samples (agent, time_ms, seq, users, cpu_cores, cpu_ratio,"
                               " throttled_ratio, io_read_bps, io_write_bps, net_rx_bps, net_tx_bps, memory_bytes,"
                               " working_set_bytes, cache_bytes, anon_bytes, swap_bytes, cpu_usage_usec,"
                               " cpu_throttled_usec, io_read_bytes, io_write_bytes, net_rx_bytes, net_tx_bytes,"
                               " oom_kills, cpu_nr_periods, cpu_nr_throttled)"
                               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
                fprintf(stderr, "ingest-socket: prepare: %s\n", sqlite3_errmsg(db));
                return 1;
        }

        /* Arrival order is agent-interleaved; within one commit the store writes agent by agent. So:
         * commits of `commit` rows, each covering commit/agents consecutive samples of every agent. */
        t0 = now_s();
        {
                unsigned per = commit / agents ? commit / agents : 1;
                for (unsigned s0 = 1; s0 <= samples; s0 += per) {
                        sql(db, "BEGIN");
                        for (unsigned a = 0; a < agents; a++)
                                for (unsigned k = s0; k < s0 + per && k <= samples; k++) {
                                        Row r, prev;
                                        double dt;
                                        int i = 1;

                                        make_row(a, k, base, &r);
                                        make_row(a, k > 1 ? k - 1 : k, base, &prev);
                                        dt = k > 1 ? (double)(r.time_ms - prev.time_ms) / 1000.0 : 1.0;
                                        sqlite3_bind_int64(st, i++, a + 1);
                                        sqlite3_bind_int64(st, i++, r.time_ms);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.seq);
                                        sqlite3_bind_null(st, i++);
                                        sqlite3_bind_double(st, i++, (double)(r.cpu_usage - prev.cpu_usage) / 1e6 / dt);
                                        sqlite3_bind_double(st, i++, (double)(r.cpu_usage - prev.cpu_usage) / 2e6 / dt);
                                        sqlite3_bind_double(st, i++, 0.1);
                                        sqlite3_bind_double(st, i++, (double)(r.io_rb - prev.io_rb) / dt);
                                        sqlite3_bind_double(st, i++, (double)(r.io_wb - prev.io_wb) / dt);
                                        sqlite3_bind_double(st, i++, (double)(r.rx - prev.rx) / dt);
                                        sqlite3_bind_double(st, i++, (double)(r.tx - prev.tx) / dt);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.mem);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.ws);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.cache);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.anon);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.swap);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.cpu_usage);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.throttled_usec);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.io_rb);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.io_wb);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.rx);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.tx);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.oom);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.periods);
                                        sqlite3_bind_int64(st, i++, (int64_t)r.throttled);
                                        if (sqlite3_step(st) != SQLITE_DONE) {
                                                fprintf(stderr, "ingest-socket: insert: %s\n", sqlite3_errmsg(db));
                                                return 1;
                                        }
                                        sqlite3_reset(st);
                                        done++;
                                }
                        sql(db, "COMMIT");
                }
        }
        t1 = now_s();
        sqlite3_finalize(st);
        sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        sqlite3_close(db);
        free(schema);
        printf("rows=%llu\n", (unsigned long long)done);
        printf("seconds=%.3f\n", t1 - t0);
        printf("rows_per_s=%.0f\n", (double)done / (t1 - t0));
        return 0;
}

static unsigned arg_uint(const char *s, unsigned min, unsigned max, const char *what)
{
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (*s == 0 || *end || v < min || v > max) {
                fprintf(stderr, "ingest-socket: %s must be within %u..%u\n", what, min, max);
                exit(2);
        }
        return (unsigned)v;
}

int main(int argc, char **argv)
{
        if (argc == 7 && strcmp(argv[1], "load") == 0)
                return cmd_load(argv[2], arg_uint(argv[3], 1, AGENTS_MAX, "AGENTS"),
                                arg_uint(argv[4], 1, SAMPLES_MAX, "SAMPLES"), arg_uint(argv[5], 1, BATCH_MAX, "BATCH"),
                                arg_uint(argv[6], 1, SAMPLES_MAX, "WINDOW"));
        if (argc == 7 && strcmp(argv[1], "raw") == 0)
                return cmd_raw(argv[2], argv[3], arg_uint(argv[4], 1, AGENTS_MAX, "AGENTS"),
                               arg_uint(argv[5], 1, SAMPLES_MAX, "SAMPLES"), arg_uint(argv[6], 1, 10000000, "COMMIT"));
        fprintf(stderr, "usage: ingest-socket load UNIX_PATH AGENTS SAMPLES BATCH WINDOW\n"
                        "       ingest-socket raw DB_PATH SCHEMA_SQL AGENTS SAMPLES COMMIT\n");
        return 2;
}
