/* BBB poll rows: each poll's result and the server's state after it, and the stored polls around a given
 * time that the poller's participants rule reads when its own memory does not reach back. See store.h. */

#include "log.h"
#include "store-internal.h"
#include "util.h"

#define STORE_BBB_SERVERS_MAX 1024

/* A server's row number, found by name once. */
struct BbbState {
        char name[STORE_ID_MAX + 1];
        int64_t num;
};

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
        return store_end_transaction(s, r);
}

int store_bbb_polls_at(Store *s, const char *server, int64_t time_ms, int64_t min_ok_ms, StoreBbbPollRow *ret_newest,
                       StoreBbbPollRow *ret_newest_ok)
{
        BbbState *b;
        sqlite3_stmt *st;
        int r, rc;

        assert(s);
        assert(ret_newest);
        assert(ret_newest_ok);
        if (!id_is_valid(server))
                return -EINVAL;
        *ret_newest = *ret_newest_ok = (StoreBbbPollRow){ .time_ms = -1 };

        r = bbb_get(s, server, false, &b);
        if (r <= 0)
                return r;

        st = s->stmt[STMT_BBB_AT];
        sqlite3_bind_int64(st, 1, b->num);
        sqlite3_bind_int64(st, 2, time_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret_newest = (StoreBbbPollRow){ .time_ms = sqlite3_column_int64(st, 0), .up = sqlite3_column_int(st, 3),
                                                 .counts = { -1, -1, -1, -1 } };
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);

        st = s->stmt[STMT_BBB_AT_OK];
        sqlite3_bind_int64(st, 1, b->num);
        sqlite3_bind_int64(st, 2, time_ms);
        sqlite3_bind_int64(st, 3, min_ok_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL)
                *ret_newest_ok = (StoreBbbPollRow){
                        .time_ms = sqlite3_column_int64(st, 0),
                        .up = true,
                        .counts = { .users = sqlite3_column_int64(st, 1), .listeners = column_i64_or_none(st, 2),
                                    .voice = column_i64_or_none(st, 3), .video = column_i64_or_none(st, 4) },
                };
        sqlite3_reset(st);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_errno(rc);
}
