/* The store's agents: the in-memory table of every agent seen (found by id), the agents row a Hello
 * upserts, each agent's spool streams and limits epochs, and its previous row, which rates are derived
 * from. See store-internal.h. */

#include "label.h"
#include "log.h"
#include "store-internal.h"
#include "util.h"

/* After a commit: the rows and limits are written. */
void agent_clear_rows(StoreAgent *a)
{
        a->first = a->last = NONE;
        a->n_pending = 0;
        a->limits_dirty = false;
        a->n_new_epochs = 0;
}

/* After an aggregate flush: the deltas are written. */
void agent_clear_aggs(StoreAgent *a)
{
        derive_curves_clear(&a->curves);
        derive_trends_clear(&a->trends);
        a->newest_dirty = a->net_dirty = false;
}

bool agent_has_aggs(const StoreAgent *a)
{
        return a->curves.n > 0 || a->trends.n > 0 || a->newest_dirty || a->net_dirty;
}

void agent_free(StoreAgent *a)
{
        if (!a)
                return;
        agent_clear_aggs(a);
        derive_curves_free(&a->curves);
        free(a->new_epochs);
        derive_trends_free(&a->trends);
        free(a->net);
        free(a);
}

static int agents_rehash(Store *s, size_t n_slots)
{
        uint32_t *slots = calloc(n_slots, sizeof(uint32_t));

        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_agents; i++) {
                size_t j = s->agents[i]->hash & (n_slots - 1);
                while (slots[j])
                        j = (j + 1) & (n_slots - 1);
                slots[j] = (uint32_t)i + 1;
        }
        free(s->slots);
        s->slots = slots;
        s->n_slots = n_slots;
        return 0;
}

static StoreAgent *agent_find(Store *s, const char *id, uint32_t hash)
{
        if (s->n_slots == 0)
                return NULL;
        for (size_t j = hash & (s->n_slots - 1);; j = (j + 1) & (s->n_slots - 1)) {
                StoreAgent *a;

                if (!s->slots[j])
                        return NULL;
                a = s->agents[s->slots[j] - 1];
                if (a->hash == hash && streq(a->id, id))
                        return a;
        }
}

static void prev_from_columns(sqlite3_stmt *st, Prev *ret)
{
        *ret = (Prev){ .valid = true, .time_ms = sqlite3_column_int64(st, 0), .n_net = -1 };
        for (int c = 0; c < _C_MAX; c++)
                ret->counter[c] = column_i64_or_none(st, 1 + c);
}

/* Loads what rates need from the database: the agent's newest stored sample. */
static int agent_load_prev(Store *s, StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_SAMPLE_NEWEST];
        int rc;

        sqlite3_bind_int64(st, 1, a->num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                prev_from_columns(st, &a->prev);
                a->newest_seq = (uint64_t)MAX(sqlite3_column_int64(st, 1 + _C_MAX), 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);
        if (rc == SQLITE_DONE)
                return 0;

        /* The interfaces of that sample, when the netdev table still describes it. */
        st = s->stmt[STMT_NETDEV_COUNT];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, a->prev.time_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0)
                a->prev.n_net = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : store_errno(rc);
}

/* The newest limits epoch of a, so that a restart continues it while the limits stay the same. */
static int agent_load_epoch(Store *s, StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_EPOCH_GET];
        int rc;

        a->epoch = 0;
        a->epoch_cpus = NAN;
        a->epoch_memory = -1;
        sqlite3_bind_int64(st, 1, a->num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                a->epoch = sqlite3_column_int64(st, 0);
                a->epoch_cpus = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
                a->epoch_memory = column_i64_or_none(st, 2);
        }
        sqlite3_reset(st);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_errno(rc);
}

/* Effective CPUs that differ by less than this are the same limit (a quota read back as a fraction). */
#define EPOCH_CPUS_EPSILON 1e-6

/* Sets *ret to the epoch of a sample at time_ms under a's current limits: a new one when they differ
 * from the current epoch's (or there is none yet). Returns 0 or -ENOMEM. */
int agent_epoch_for(StoreAgent *a, int64_t time_ms, int64_t *ret)
{
        bool same_cpus = (isnan(a->effective_cpus) && isnan(a->epoch_cpus)) ||
                         fabs(a->effective_cpus - a->epoch_cpus) <= EPOCH_CPUS_EPSILON;
        int r;

        if (a->epoch <= 0 || !same_cpus || a->memory_limit != a->epoch_memory) {
                r = GREEDY_REALLOC(a->new_epochs, a->alloc_new_epochs, a->n_new_epochs + 1);
                if (r < 0)
                        return r;
                a->epoch++;
                a->epoch_cpus = a->effective_cpus;
                a->epoch_memory = a->memory_limit;
                a->new_epochs[a->n_new_epochs++] = (EpochCopy){ .epoch = a->epoch, .start_ms = time_ms,
                                                                .memory_limit = a->memory_limit,
                                                                .effective_cpus = a->effective_cpus };
        }
        *ret = a->epoch;
        return 0;
}

/* The in-memory state of agent id, from the database (creating its row) the first time. */
int agent_get(Store *s, const char *id, StoreAgent **ret)
{
        _cleanup_free_ StoreAgent *a = NULL;
        uint32_t hash = string_hash(id);
        StoreAgent *found;
        sqlite3_stmt *st;
        int rc, r;

        found = agent_find(s, id, hash);
        if (found) {
                *ret = found;
                return 0;
        }

        if (s->n_agents >= STORE_AGENTS_MAX)
                return -ENOBUFS;
        if (strlen(id) > STORE_ID_MAX)
                return -EINVAL;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        strcpy(a->id, id);
        a->hash = hash;
        a->first = a->last = NONE;
        a->effective_cpus = NAN;
        a->memory_limit = -1;
        a->num = -1;

        for (int attempt = 0; attempt < 2 && a->num < 0; attempt++) {
                st = s->stmt[STMT_AGENT_GET];
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                        a->num = sqlite3_column_int64(st, 0);
                        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
                                a->effective_cpus = sqlite3_column_double(st, 1);
                        a->agg_time_ms = sqlite3_column_int64(st, 2);
                        a->memory_limit = column_i64_or_none(st, 3);
                }
                sqlite3_reset(st);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                        return store_errno(rc);
                if (rc == SQLITE_DONE && attempt == 0) {
                        st = s->stmt[STMT_AGENT_CREATE];
                        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 2, now_ms());
                        r = stmt_exec(st);
                        if (r < 0)
                                return r;
                }
        }
        if (a->num < 0)
                return -EIO;

        r = agent_load_prev(s, a);
        if (r < 0)
                return r;
        r = agent_load_epoch(s, a);
        if (r < 0)
                return r;

        r = GREEDY_REALLOC(s->agents, s->alloc_agents, s->n_agents + 1);
        if (r < 0)
                return r;
        s->agents[s->n_agents++] = a;
        if (s->n_agents * 2 > s->n_slots) {
                r = agents_rehash(s, MAX(s->n_slots * 2, (size_t)64));
                if (r < 0) {
                        s->agents[--s->n_agents] = NULL;
                        return r;
                }
        } else {
                size_t j = hash & (s->n_slots - 1);
                while (s->slots[j])
                        j = (j + 1) & (s->n_slots - 1);
                s->slots[j] = (uint32_t)s->n_agents;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int agent_mark_dirty(Store *s, StoreAgent *a)
{
        int r;

        if (a->dirty)
                return 0;
        r = GREEDY_REALLOC(s->dirty, s->alloc_dirty, s->n_dirty + 1);
        if (r < 0)
                return r;
        s->dirty[s->n_dirty++] = a;
        a->dirty = true;
        return 0;
}

void limits_copy(const SampleLimits *l, LimitsCopy *ret)
{
        *ret = (LimitsCopy){
                .effective_cpus = l->effective_cpus,
                .cpu_count = l->cpu_count,
                .quota_us = l->quota_us,
                .period_us = l->period_us,
                .memory_limit_bytes = l->memory_limit_bytes,
                .swap_limit_bytes = l->swap_limit_bytes,
                .host_cpus = l->host_cpus,
                .host_memory_bytes = l->host_memory_bytes,
        };
        if (l->cpuset)
                (void)snprintf(ret->cpuset, sizeof(ret->cpuset), "%s", l->cpuset);
}

/* Makes stream the one agent a's samples belong to, loading its position from the database when it is
 * not cached. A cached stream whose samples all are committed makes room. Returns 0, -ENOBUFS when
 * every cached stream has pending samples (commit first), or -errno. */
int agent_select_stream(Store *s, StoreAgent *a, uint64_t stream)
{
        sqlite3_stmt *st;
        uint64_t seq = 0;
        unsigned slot;
        int rc;

        for (unsigned i = 0; i < a->n_streams; i++)
                if (a->streams[i].stream == stream) {
                        a->cur = i;
                        return 0;
                }

        st = s->stmt[STMT_STREAM_GET];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, (int64_t)stream);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                seq = (uint64_t)MAX(sqlite3_column_int64(st, 0), 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);

        if (a->n_streams < STORE_STREAMS_CACHED)
                slot = a->n_streams++;
        else {
                slot = STORE_STREAMS_CACHED;
                for (unsigned i = 0; i < a->n_streams; i++)
                        if (a->streams[i].seq == a->streams[i].committed) {
                                slot = i;
                                break;
                        }
                if (slot == STORE_STREAMS_CACHED)
                        return -ENOBUFS;
        }
        a->streams[slot] = (StreamPos){ .stream = stream, .seq = seq, .committed = seq };
        a->cur = slot;
        return 0;
}

int write_streams(Store *s, const StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_STREAM_SET];
        int r;

        for (unsigned i = 0; i < a->n_streams; i++) {
                const StreamPos *p = &a->streams[i];

                if (p->seq == p->committed)
                        continue;
                sqlite3_bind_int64(st, 1, a->num);
                sqlite3_bind_int64(st, 2, (int64_t)p->stream);
                sqlite3_bind_int64(st, 3, (int64_t)p->seq);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_agent_hello(Store *s, const StoreAgentInfo *info, int64_t *ret_last_time_ms, uint64_t *ret_last_seq)
{
        char labels_json[LABELS_JSON_MAX + 1];
        const AgentHello *h;
        LimitsCopy l;
        StoreAgent *a;
        sqlite3_stmt *st;
        int64_t last_time = 0;
        int rc, r;

        assert(s);
        assert(info);

        h = info->hello;
        assert(h); /* checked by ingest_hello_check() */
        if (!id_is_valid(info->id) ||
            (info->transport && strlen(info->transport) > STORE_SHORT_TEXT_MAX) ||
            (info->bbb && !id_is_valid(info->bbb)))
                return -EINVAL;
        limits_copy(&h->limits, &l);
        r = labels_to_json(&h->labels, labels_json, sizeof(labels_json));
        if (r < 0)
                return r;

        st = s->stmt[STMT_AGENT_HELLO];
        sqlite3_bind_text(st, 1, info->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, h->virt ? h->virt : "unknown", -1, SQLITE_STATIC);
        bind_text_or_null(st, 3, h->hostname);
        bind_text_or_null(st, 4, h->machine_id);
        bind_text_or_null(st, 5, h->agent_version);
        bind_i64_or_null(st, 6, h->cgroup_version);
        bind_text_or_null(st, 7, h->cgroup_mode);
        bind_text_or_null(st, 8, h->cgroup_path);
        bind_double_or_null(st, 9, l.effective_cpus);
        bind_i64_or_null(st, 10, l.cpu_count);
        bind_text_or_null(st, 11, l.cpuset);
        bind_i64_or_null(st, 12, l.quota_us);
        bind_i64_or_null(st, 13, l.period_us);
        bind_i64_or_null(st, 14, l.memory_limit_bytes);
        bind_i64_or_null(st, 15, l.swap_limit_bytes);
        bind_i64_or_null(st, 16, l.host_cpus);
        bind_i64_or_null(st, 17, l.host_memory_bytes);
        bind_text_or_null(st, 18, info->bbb);
        bind_text_or_null(st, 19, info->transport);
        sqlite3_bind_int64(st, 20, info->clock_offset_ms);
        sqlite3_bind_int64(st, 21, info->now_ms > 0 ? info->now_ms : now_ms());
        sqlite3_bind_text(st, 22, labels_json, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
                return store_errno(rc);

        r = agent_get(s, info->id, &a);
        if (r < 0)
                return r;
        r = agent_select_stream(s, a, info->stream);
        if (r < 0)
                return r;

        /* The newest committed sample (agents.last_time_ms may lag by one aggregate interval). */
        st = s->stmt[STMT_SAMPLE_NEWEST];
        sqlite3_bind_int64(st, 1, a->num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                last_time = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);
        /* The Hello's limits are the newest: they win over any older ones a pending sample carried. */
        a->effective_cpus = l.effective_cpus;
        a->memory_limit = l.memory_limit_bytes;
        a->limits_dirty = false;

        if (ret_last_time_ms)
                *ret_last_time_ms = last_time;
        if (ret_last_seq)
                *ret_last_seq = a->streams[a->cur].committed;
        return 0;
}

int store_agent_disconnected(Store *s, const char *id, int64_t now)
{
        sqlite3_stmt *st;
        int r;

        assert(s);
        if (!id_is_valid(id))
                return -EINVAL;
        st = s->stmt[STMT_AGENT_DISCONNECTED];
        sqlite3_bind_int64(st, 1, now > 0 ? now : now_ms());
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        r = stmt_exec(st);
        sqlite3_clear_bindings(st);
        return r;
}

int store_reset_connected(Store *s)
{
        assert(s);
        return stmt_exec(s->stmt[STMT_AGENT_RESET]);
}

/* For a sample older than the agent's newest: is (agent, time) taken, and which sample precedes it?
 * Looks at the pending chain (not yet in the database) and the database. Returns 1 for a duplicate. */
int lookup_older(Store *s, StoreAgent *a, int64_t time_ms, Prev *ret_prev)
{
        sqlite3_stmt *st;
        Prev best = { .valid = false };
        int rc;

        for (uint32_t i = a->first; i != NONE; i = s->rows[i].next) {
                const Row *r = &s->rows[i];

                if (r->time_ms == time_ms)
                        return 1;
                if (r->time_ms < time_ms && (!best.valid || r->time_ms > best.time_ms)) {
                        best = (Prev){ .valid = true, .time_ms = r->time_ms, .n_net = -1 };
                        memcpy(best.counter, r->counter, sizeof(best.counter));
                }
        }

        st = s->stmt[STMT_SAMPLE_EXISTS];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, time_ms);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc != SQLITE_DONE)
                return store_errno(rc);

        st = s->stmt[STMT_SAMPLE_BEFORE];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, time_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && (!best.valid || sqlite3_column_int64(st, 0) > best.time_ms))
                prev_from_columns(st, &best);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);

        *ret_prev = best;
        return 0;
}

int write_agent(Store *s, const StoreAgent *a, int64_t now)
{
        sqlite3_stmt *st;
        int r;

        if (a->net_dirty) {
                st = s->stmt[STMT_NETDEV_UPSERT];
                for (size_t i = 0; i < a->n_net; i++) {
                        sqlite3_bind_int64(st, 1, a->num);
                        sqlite3_bind_text(st, 2, a->net[i].name, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 3, a->net_time_ms);
                        for (int j = 0; j < 8; j++)
                                bind_i64_or_null(st, 4 + j, a->net[i].v[j]);
                        r = stmt_exec(st);
                        if (r < 0)
                                return r;
                }
                /* Interfaces that are gone. */
                st = s->stmt[STMT_NETDEV_PRUNE];
                sqlite3_bind_int64(st, 1, a->num);
                sqlite3_bind_int64(st, 2, a->net_time_ms);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }

        if (a->newest_dirty) {
                st = s->stmt[STMT_AGENT_LAST];
                sqlite3_bind_int64(st, 1, a->prev.time_ms);
                sqlite3_bind_int64(st, 2, (int64_t)a->newest_seq);
                sqlite3_bind_int64(st, 3, now);
                sqlite3_bind_int64(st, 4, a->num);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

int write_limits(Store *s, const StoreAgent *a)
{
        sqlite3_stmt *st;
        int r;

        for (size_t i = 0; i < a->n_new_epochs; i++) {
                const EpochCopy *e = &a->new_epochs[i];

                st = s->stmt[STMT_EPOCH_INSERT];
                sqlite3_bind_int64(st, 1, a->num);
                sqlite3_bind_int64(st, 2, e->epoch);
                sqlite3_bind_int64(st, 3, e->start_ms);
                bind_double_or_null(st, 4, e->effective_cpus);
                bind_i64_or_null(st, 5, e->memory_limit);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        if (a->limits_dirty) {
                const LimitsCopy *l = &a->limits;

                st = s->stmt[STMT_AGENT_LIMITS];
                bind_double_or_null(st, 1, l->effective_cpus);
                bind_i64_or_null(st, 2, l->cpu_count);
                bind_text_or_null(st, 3, l->cpuset);
                bind_i64_or_null(st, 4, l->quota_us);
                bind_i64_or_null(st, 5, l->period_us);
                bind_i64_or_null(st, 6, l->memory_limit_bytes);
                bind_i64_or_null(st, 7, l->swap_limit_bytes);
                bind_i64_or_null(st, 8, l->host_cpus);
                bind_i64_or_null(st, 9, l->host_memory_bytes);
                sqlite3_bind_int64(st, 10, a->num);
                return stmt_exec(st);
        }
        return 0;
}
