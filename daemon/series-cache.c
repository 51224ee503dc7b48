/* The series bucket cache (series-cache.h): a direct-mapped table under one mutex. Lookups are a hash and
 * a memcpy, so holding the mutex costs far less than the rows a hit saves. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "series-cache.h"

typedef struct Slot {
        bool used;
        SeriesKey key;
        SeriesBucket bucket;
} Slot;

struct SeriesCache {
        pthread_mutex_t lock;
        size_t n_slots;
        Slot *slots;
        uint64_t lookups, hits;
};

int series_cache_new(size_t slots, SeriesCache **ret)
{
        SeriesCache *c;

        assert(ret);
        if (slots == 0)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->slots = calloc(slots, sizeof(Slot));
        if (!c->slots) {
                free(c);
                return -ENOMEM;
        }
        c->n_slots = slots;
        c->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
        *ret = c;
        return 0;
}

SeriesCache *series_cache_free(SeriesCache *c)
{
        if (!c)
                return NULL;
        pthread_mutex_destroy(&c->lock);
        free(c->slots);
        free(c);
        return NULL;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
        h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        return h;
}

/* The buckets of one series go to consecutive slots, so a series never evicts its own buckets (up to the
 * table's size); different series start at hashed offsets. */
static size_t slot_of(const SeriesCache *c, const SeriesKey *k)
{
        uint64_t h = 0;

        h = mix(h, (uint64_t)k->agent_num);
        h = mix(h, (uint64_t)k->step_ms);
        h = mix(h, k->columns);
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h += (uint64_t)k->bucket_ms / (uint64_t)(k->step_ms > 0 ? k->step_ms : 1);
        return (size_t)(h % c->n_slots);
}

static bool key_equal(const SeriesKey *a, const SeriesKey *b)
{
        return a->agent_num == b->agent_num && a->step_ms == b->step_ms && a->bucket_ms == b->bucket_ms &&
               a->columns == b->columns && a->hour_n == b->hour_n;
}

bool series_cache_get(SeriesCache *c, const SeriesKey *key, SeriesBucket *ret)
{
        Slot *s;
        bool hit;

        if (!c)
                return false;
        s = &c->slots[slot_of(c, key)];
        pthread_mutex_lock(&c->lock);
        c->lookups++;
        hit = s->used && key_equal(&s->key, key);
        if (hit) {
                *ret = s->bucket;
                c->hits++;
        }
        pthread_mutex_unlock(&c->lock);
        return hit;
}

void series_cache_put(SeriesCache *c, const SeriesKey *key, const SeriesBucket *b)
{
        Slot *s;

        if (!c)
                return;
        s = &c->slots[slot_of(c, key)];
        pthread_mutex_lock(&c->lock);
        s->used = true;
        s->key = *key;
        s->bucket = *b;
        pthread_mutex_unlock(&c->lock);
}

void series_cache_stats(SeriesCache *c, uint64_t *ret_lookups, uint64_t *ret_hits)
{
        pthread_mutex_lock(&c->lock);
        *ret_lookups = c->lookups;
        *ret_hits = c->hits;
        pthread_mutex_unlock(&c->lock);
}
