/* Retention: deleting expired raw samples, trends and BBB polls in short steps. See store.h. */

#include "store-internal.h"
#include "util.h"

/* The nums of a table's keys (agents or BBB servers), for per-key deletes that use the primary keys. */
static int list_nums(sqlite3_stmt *st, int64_t **ret, size_t *ret_n)
{
        _cleanup_free_ int64_t *nums = NULL;
        size_t n = 0, alloc = 0;
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (GREEDY_REALLOC(nums, alloc, n + 1) < 0) {
                        sqlite3_reset(st);
                        return -ENOMEM;
                }
                nums[n++] = sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return store_errno(rc);
        *ret = TAKE_PTR(nums);
        *ret_n = n;
        return 0;
}

static int retain(Store *s, StmtId id, const int64_t *nums, size_t n, int64_t cutoff, unsigned *budget,
                  unsigned *deleted)
{
        sqlite3_stmt *st = s->stmt[id];
        int r;

        for (size_t i = 0; i < n && *budget > 0; i++) {
                unsigned k;

                sqlite3_bind_int64(st, 1, nums[i]);
                sqlite3_bind_int64(st, 2, cutoff);
                sqlite3_bind_int64(st, 3, *budget);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
                k = (unsigned)sqlite3_changes(s->db);
                k = MIN(k, *budget);
                *budget -= k;
                *deleted += k;
        }
        return 0;
}

int store_retention_step(Store *s, int64_t now, unsigned raw_days, unsigned trend_days, unsigned max_rows)
{
        _cleanup_free_ int64_t *agents = NULL, *servers = NULL;
        size_t n_agents = 0, n_servers = 0;
        unsigned budget = MIN(max_rows, (unsigned)INT32_MAX), deleted = 0;
        bool raw_done = false;
        int r;

        assert(s);
        if (budget == 0)
                return 0;

        r = list_nums(s->stmt[STMT_AGENT_NUMS], &agents, &n_agents);
        if (r >= 0)
                r = list_nums(s->stmt[STMT_BBB_NUMS], &servers, &n_servers);
        if (r < 0)
                return r;

        /* One short transaction of at most max_rows deletes; 0 days keeps that kind forever. */
        r = stmt_exec(s->stmt[STMT_BEGIN]);
        if (r < 0)
                return r;
        if (raw_days > 0)
                r = retain(s, STMT_RETAIN_SAMPLES, agents, n_agents, now - (int64_t)raw_days * MS_PER_DAY, &budget,
                           &deleted);
        raw_done = raw_days > 0 && budget > 0; /* every expired raw row of every agent is gone */
        if (r >= 0 && trend_days > 0)
                r = retain(s, STMT_RETAIN_TRENDS, agents, n_agents, now - (int64_t)trend_days * MS_PER_DAY,
                           &budget, &deleted);
        if (r >= 0 && trend_days > 0)
                r = retain(s, STMT_RETAIN_POLLS, servers, n_servers, now - (int64_t)trend_days * MS_PER_DAY,
                           &budget, &deleted);
        r = store_end_transaction(s, r);
        if (r < 0)
                return r;
        if (raw_done && s->live)
                live_forget_before(s->live, now - (int64_t)raw_days * MS_PER_DAY);
        return (int)deleted;
}
