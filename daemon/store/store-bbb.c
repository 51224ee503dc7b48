/* BBB poll rows: each poll's result and the server's state after it, and the participant counts of a
 * server at a given time (from a ring of its newest polls, else from the stored ones). See store.h. */

#include "log.h"
#include "store-internal.h"
#include "util.h"

#define STORE_BBB_CACHE 256      /* newest polls per server kept in memory for store_bbb_users_at() */
#define STORE_BBB_SERVERS_MAX 1024

typedef struct PollCache {
        int64_t time_ms;
        int64_t participants; /* -1 unknown (failed poll) */
        bool up;              /* the server's state after this poll */
        int64_t listeners, voice, video; /* -1 unknown */
} PollCache;

struct BbbState {
        char name[STORE_ID_MAX + 1];
        int64_t num;
        PollCache ring[STORE_BBB_CACHE]; /* every poll with time >= the oldest one held, ascending */
        unsigned head, count;
};

static void ring_push(BbbState *b, const PollCache *pc)
{
        int64_t time_ms = pc->time_ms;

        if (b->count > 0 && time_ms <= b->ring[(b->head + b->count - 1) % STORE_BBB_CACHE].time_ms) {
                /* Out of order or a repeat: the ring would no longer hold every poll after its oldest.
                 * Start over; older times are asked from the database. */
                b->head = 0;
                b->count = 0;
        }
        if (b->count == STORE_BBB_CACHE) {
                b->head = (b->head + 1) % STORE_BBB_CACHE;
                b->count--;
        }
        b->ring[(b->head + b->count) % STORE_BBB_CACHE] = *pc;
        b->count++;
}

static int bbb_get(Store *s, const char *name, bool create, BbbState **ret)
{
        _cleanup_free_ BbbState *b = NULL;
        sqlite3_stmt *st;
        int64_t num = -1;
        int rc, r;

        for (size_t i = 0; i < s->n_bbb; i++)
                if (streq(s->bbb[i]->name, name)) {
                        *ret = s->bbb[i];
                        return 1;
                }
        if (s->n_bbb >= STORE_BBB_SERVERS_MAX)
                return -ENOBUFS;

        for (int attempt = 0; attempt < 2 && num < 0; attempt++) {
                st = s->stmt[STMT_BBB_GET];
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        num = sqlite3_column_int64(st, 0);
                sqlite3_reset(st);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                        return store_errno(rc);
                if (rc == SQLITE_DONE) {
                        if (!create)
                                return 0;
                        if (attempt > 0)
                                return -EIO;
                        st = s->stmt[STMT_BBB_CREATE];
                        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                        r = stmt_exec(st);
                        if (r < 0)
                                return r;
                }
        }

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        (void)snprintf(b->name, sizeof(b->name), "%s", name);
        b->num = num;

        /* The newest polls, oldest first into the ring. */
        st = s->stmt[STMT_BBB_RECENT];
        sqlite3_bind_int64(st, 1, num);
        sqlite3_bind_int(st, 2, STORE_BBB_CACHE);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                unsigned k = STORE_BBB_CACHE - 1 - b->count;
                b->ring[k] = (PollCache){
                        .time_ms = sqlite3_column_int64(st, 0),
                        .participants = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 2) : -1,
                        .up = sqlite3_column_int(st, 3),
                        .listeners = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 4) : -1,
                        .voice = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 5) : -1,
                        .video = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 6) : -1,
                };
                b->count++;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return store_errno(rc);
        b->head = (STORE_BBB_CACHE - b->count) % STORE_BBB_CACHE;

        {
                BbbState **p = realloc(s->bbb, (s->n_bbb + 1) * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                s->bbb = p;
        }
        s->bbb[s->n_bbb++] = b;
        *ret = TAKE_PTR(b);
        return 1;
}

static int64_t count_or_none(bool ok, int64_t v)
{
        return ok ? v : -1;
}

int store_add_bbb_poll(Store *s, const StoreBbbPoll *p)
{
        char error[STORE_ERROR_MAX + 1] = "";
        const int64_t *counts;
        BbbState *b;
        sqlite3_stmt *st;
        int r, k;

        assert(s);
        assert(p);

        if (!id_is_valid(p->server) || p->time_ms <= 0)
                return -EINVAL;
        counts = (const int64_t[]){ p->meetings, p->participants, p->listeners, p->voice,
                                    p->video,    p->moderators,   p->breakouts };
        if (p->ok)
                for (int i = 0; i < 7; i++)
                        if (counts[i] < 0 || counts[i] > STORE_BBB_COUNT_MAX)
                                return -EINVAL;
        /* Error texts may quote the remote server: keep them short and plain. */
        if (!p->ok || p->error) {
                const char *e = p->error ? p->error : "poll failed";
                size_t n = 0;
                for (; e[n] && n < STORE_ERROR_MAX; n++)
                        error[n] = e[n] >= 0x20 && e[n] < 0x7f ? e[n] : '?';
                error[n] = 0;
        }

        r = bbb_get(s, p->server, true, &b);
        if (r < 0)
                return r;

        r = stmt_exec(s->stmt[STMT_BEGIN]);
        if (r < 0)
                return r;

        st = s->stmt[STMT_BBB_STATE];
        sqlite3_bind_int(st, 1, p->up);
        sqlite3_bind_int64(st, 2, p->time_ms);
        if (p->ok)
                sqlite3_bind_int64(st, 3, p->time_ms);
        else
                sqlite3_bind_null(st, 3);
        bind_text_or_null(st, 4, error);
        for (k = 0; k < 7; k++)
                bind_i64_or_null(st, 5 + k, count_or_none(p->ok, counts[k]));
        sqlite3_bind_int64(st, 12, b->num);
        r = stmt_exec(st);

        if (r >= 0) {
                st = s->stmt[STMT_BBB_POLL];
                sqlite3_bind_int64(st, 1, b->num);
                sqlite3_bind_int64(st, 2, p->time_ms);
                sqlite3_bind_int(st, 3, p->ok);
                for (k = 0; k < 7; k++)
                        bind_i64_or_null(st, 4 + k, count_or_none(p->ok, counts[k]));
                sqlite3_bind_int(st, 11, p->up);
                r = stmt_exec(st);
        }
        if (r >= 0)
                r = stmt_exec(s->stmt[STMT_COMMIT]);
        if (r < 0) {
                if (!sqlite3_get_autocommit(s->db))
                        (void)stmt_exec(s->stmt[STMT_ROLLBACK]);
                return r;
        }

        ring_push(b, &(const PollCache){
                             .time_ms = p->time_ms,
                             .participants = p->ok ? p->participants : -1,
                             .up = p->up,
                             .listeners = p->ok ? p->listeners : -1,
                             .voice = p->ok ? p->voice : -1,
                             .video = p->ok ? p->video : -1,
                     });
        return 0;
}

/* The rule of bbb_poller_users_at(), over the stored series: a count is known at time_ms when the
 * server was up after the newest poll at or before time_ms, and the newest successful poll at or before
 * time_ms is at most max_age_ms old. So one failed poll keeps the last count (the server is not yet down)
 * for live and backfilled samples alike. */
int store_bbb_users_at(Store *s, const char *server, int64_t time_ms, int64_t max_age_ms, int64_t *ret)
{
        StoreCounts c;
        int r;

        r = store_bbb_counts_at(s, server, time_ms, max_age_ms, &c);
        if (r > 0 && ret)
                *ret = c.users;
        return r;
}

int store_bbb_counts_at(Store *s, const char *server, int64_t time_ms, int64_t max_age_ms, StoreCounts *ret)
{
        BbbState *b;
        sqlite3_stmt *st;
        int64_t t = 0, participants = -1, listeners = -1, voice = -1, video = -1;
        bool up = false;
        int r, rc;

        assert(s);
        if (!id_is_valid(server) || max_age_ms < 0)
                return -EINVAL;

        r = bbb_get(s, server, false, &b);
        if (r <= 0)
                return r;

        /* The ring holds every poll since its oldest one: answer from memory when time_ms is in it. */
        if (b->count > 0 && time_ms >= b->ring[b->head].time_ms) {
                unsigned i = b->count;

                while (b->ring[(b->head + i - 1) % STORE_BBB_CACHE].time_ms > time_ms)
                        i--; /* stops at the oldest entry at the latest, which is <= time_ms */
                if (!b->ring[(b->head + i - 1) % STORE_BBB_CACHE].up)
                        return 0;
                for (; i > 0; i--) {
                        const PollCache *pc = &b->ring[(b->head + i - 1) % STORE_BBB_CACHE];

                        if (time_ms - pc->time_ms > max_age_ms)
                                return 0;
                        if (pc->participants >= 0) {
                                if (ret)
                                        *ret = (StoreCounts){ .users = pc->participants, .listeners = pc->listeners,
                                                              .voice = pc->voice, .video = pc->video };
                                return 1;
                        }
                }
                /* The last success is older than the ring: ask the database below. */
        } else {
                st = s->stmt[STMT_BBB_AT];
                sqlite3_bind_int64(st, 1, b->num);
                sqlite3_bind_int64(st, 2, time_ms);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        up = sqlite3_column_int(st, 3);
                sqlite3_reset(st);
                if (rc == SQLITE_DONE)
                        return 0;
                if (rc != SQLITE_ROW)
                        return store_errno(rc);
                if (!up)
                        return 0;
        }

        st = s->stmt[STMT_BBB_AT_OK];
        sqlite3_bind_int64(st, 1, b->num);
        sqlite3_bind_int64(st, 2, time_ms);
        sqlite3_bind_int64(st, 3, time_ms - max_age_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                t = sqlite3_column_int64(st, 0);
                participants = column_i64_or_none(st, 1);
                listeners = column_i64_or_none(st, 2);
                voice = column_i64_or_none(st, 3);
                video = column_i64_or_none(st, 4);
        }
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return store_errno(rc);
        if (participants < 0 || time_ms - t > max_age_ms)
                return 0;
        if (ret)
                *ret = (StoreCounts){ .users = participants, .listeners = listeners, .voice = voice, .video = video };
        return 1;
}
