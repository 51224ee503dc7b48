/* The newest committed sample per agent (live.h): an open-addressing table of entries, keyed by agent id,
 * under one mutex. Entries are never removed (the store never deletes an agent), so a lookup is a probe
 * and a copy of one QuerySample. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "util.h"

typedef struct LiveEntry {
        char id[QUERY_ID_MAX + 1];
        int64_t num;
        bool has;
        QuerySample sample;
} LiveEntry;

struct Live {
        pthread_mutex_t lock;
        LiveEntry **slots; /* n_slots is a power of two, at most half full */
        size_t n_slots, n_entries;
};

int live_new(Live **ret)
{
        Live *l;

        assert(ret);
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
        *ret = l;
        return 0;
}

Live *live_free(Live *l)
{
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_slots; i++)
                free(l->slots[i]);
        free(l->slots);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
}

/* The slot holding id, or the empty slot where it would go. Needs n_slots > 0. */
static LiveEntry **slot_of(LiveEntry **slots, size_t n_slots, const char *id)
{
        size_t i = string_hash(id) & (n_slots - 1);

        while (slots[i] && !streq(slots[i]->id, id))
                i = (i + 1) & (n_slots - 1);
        return &slots[i];
}

static int grow(Live *l)
{
        size_t n = l->n_slots ? l->n_slots * 2 : 64;
        LiveEntry **slots;

        slots = calloc(n, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_slots; i++)
                if (l->slots[i])
                        *slot_of(slots, n, l->slots[i]->id) = l->slots[i];
        free(l->slots);
        l->slots = slots;
        l->n_slots = n;
        return 0;
}

/* The entry of id, created (without a sample) when missing and create is set; NULL when missing. */
static int entry_get(Live *l, const char *id, int64_t num, bool create, LiveEntry **ret)
{
        LiveEntry **slot, *e;
        int r;

        if (l->n_slots > 0) {
                slot = slot_of(l->slots, l->n_slots, id);
                if (*slot) {
                        *ret = *slot;
                        return 1;
                }
        }
        *ret = NULL;
        if (!create)
                return 0;
        if (strlen(id) > QUERY_ID_MAX)
                return -EINVAL;
        if (l->n_entries >= LIVE_AGENTS_MAX)
                return -ENOSPC;
        if ((l->n_entries + 1) * 2 > l->n_slots) {
                r = grow(l);
                if (r < 0)
                        return r;
        }
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        strcpy(e->id, id);
        e->num = num;
        *slot_of(l->slots, l->n_slots, id) = e;
        l->n_entries++;
        *ret = e;
        return 0;
}

int live_publish(Live *l, const char *id, int64_t num, const QuerySample *sample)
{
        LiveEntry *e;
        int r;

        assert(l && id && sample);
        pthread_mutex_lock(&l->lock);
        r = entry_get(l, id, num, true, &e);
        if (r >= 0 && (!e->has || sample->time_ms >= e->sample.time_ms)) {
                e->sample = *sample;
                e->has = true;
        }
        pthread_mutex_unlock(&l->lock);
        return MIN(r, 0);
}

int live_offer(Live *l, const char *id, int64_t num, const QuerySample *sample)
{
        LiveEntry *e;
        int r;

        assert(l && id);
        pthread_mutex_lock(&l->lock);
        r = entry_get(l, id, num, true, &e);
        if (r == 0 && sample) { /* created just now: nothing was published meanwhile */
                e->sample = *sample;
                e->has = true;
        }
        pthread_mutex_unlock(&l->lock);
        return MIN(r, 0);
}

int live_get(Live *l, const char *id, int64_t *ret_num, QuerySample *ret_sample, bool *ret_has)
{
        LiveEntry *e;
        int r;

        assert(l && id && ret_num && ret_sample && ret_has);
        pthread_mutex_lock(&l->lock);
        r = entry_get(l, id, 0, false, &e);
        if (r > 0) {
                *ret_num = e->num;
                *ret_has = e->has;
                if (e->has)
                        *ret_sample = e->sample;
        }
        pthread_mutex_unlock(&l->lock);
        return r;
}

void live_forget_before(Live *l, int64_t cutoff_ms)
{
        assert(l);
        pthread_mutex_lock(&l->lock);
        for (size_t i = 0; i < l->n_slots; i++)
                if (l->slots[i] && l->slots[i]->has && l->slots[i]->sample.time_ms < cutoff_ms)
                        l->slots[i]->has = false;
        pthread_mutex_unlock(&l->lock);
}
