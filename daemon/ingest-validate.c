/* The one check of what an agent sends: the limits of store.h (what the store accepts), applied once at
 * ingest, before anything reaches the store, which only asserts. Pure functions over the decoded
 * messages, so the ingest can give a reason and the tests can try every edge. */

#include <math.h>

#include "label.h"
#include "ingest-validate.h"

/* Valid UTF-8 of at most max bytes, without control characters: safe to store and to serve as JSON. */
static bool text_is_valid(const char *s, size_t max)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t n = 0;

        while (p[n]) {
                unsigned c = p[n], len, cp;

                if (n >= max)
                        return false;
                if (c < 0x20 || c == 0x7f)
                        return false;
                if (c < 0x80) {
                        n++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        len = 2;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        len = 3;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        len = 4;
                        cp = c & 0x07;
                } else
                        return false;
                for (unsigned i = 1; i < len; i++) {
                        unsigned cc = p[n + i];
                        if ((cc & 0xc0) != 0x80)
                                return false; /* also stops at the terminating NUL */
                        cp = (cp << 6) | (cc & 0x3f);
                }
                if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                n += len;
        }
        return n <= max;
}

#define FAIL(why)                                                                                            \
        do {                                                                                                 \
                if (ret_reason)                                                                              \
                        *ret_reason = (why);                                                                 \
                return -EINVAL;                                                                              \
        } while (0)

int ingest_limits_check(const Seatmeter__Limits *l, const char **ret_reason)
{
        if (!l)
                return 0;
        if (l->has_effective_cpus &&
            !(isfinite(l->effective_cpus) && l->effective_cpus > 0 && l->effective_cpus <= STORE_CPUS_MAX))
                FAIL("effective_cpus out of (0, 65536]");
        if (l->has_cpu_count && (l->cpu_count < 1 || l->cpu_count > STORE_CPUS_MAX))
                FAIL("cpu_count out of [1, 65536]");
        if (l->has_host_cpus && (l->host_cpus < 1 || l->host_cpus > STORE_CPUS_MAX))
                FAIL("host_cpus out of [1, 65536]");
        if (l->cpuset && !text_is_valid(l->cpuset, STORE_CPUSET_MAX))
                FAIL("cpuset too long or not text");
        if (l->has_quota_us && l->quota_us <= 0)
                FAIL("quota_us not positive");
        if (l->has_period_us && (l->period_us < 1 || l->period_us > STORE_PERIOD_US_MAX))
                FAIL("period_us out of range");
        if (l->has_memory_limit_bytes && (l->memory_limit_bytes < 1 || l->memory_limit_bytes > STORE_BYTES_MAX))
                FAIL("memory_limit_bytes out of range");
        if (l->has_swap_limit_bytes && l->swap_limit_bytes > STORE_BYTES_MAX)
                FAIL("swap_limit_bytes out of range");
        if (l->has_host_memory_bytes && (l->host_memory_bytes < 1 || l->host_memory_bytes > STORE_BYTES_MAX))
                FAIL("host_memory_bytes out of range");
        return 0;
}

int ingest_hello_check(const Seatmeter__Hello *h, const char **ret_reason)
{
        if (!h)
                FAIL("no Hello");
        if (h->hostname && !text_is_valid(h->hostname, STORE_HOSTNAME_MAX))
                FAIL("hostname too long or not text");
        if (h->machine_id && !text_is_valid(h->machine_id, STORE_SHORT_TEXT_MAX))
                FAIL("machine_id too long or not text");
        if (h->cgroup_mode && !text_is_valid(h->cgroup_mode, STORE_SHORT_TEXT_MAX))
                FAIL("cgroup_mode too long or not text");
        if (h->cgroup_path && !text_is_valid(h->cgroup_path, STORE_PATH_MAX))
                FAIL("cgroup_path too long or not text");
        if (h->agent_version && !text_is_valid(h->agent_version, STORE_SHORT_TEXT_MAX))
                FAIL("agent_version too long or not text");
        if (h->has_cgroup_version && h->cgroup_version > 2)
                FAIL("cgroup_version not 0, 1 or 2");
        if (h->n_labels > LABELS_MAX)
                FAIL("more than " STRINGIFY(LABELS_MAX) " labels");
        for (size_t i = 0; i < h->n_labels; i++) {
                const Seatmeter__Label *l = h->labels[i];

                if (!l || !label_key_is_valid(l->key))
                        FAIL("label key missing or not [A-Za-z_][A-Za-z0-9_]{0,31}");
                if (l->value && !label_value_is_valid(l->value))
                        FAIL("label value too long or not text");
                for (size_t j = 0; j < i; j++)
                        if (streq(h->labels[j]->key, l->key))
                                FAIL("label key given twice");
        }
        return ingest_limits_check(h->limits, ret_reason);
}

static int pressure_check(const Seatmeter__Pressure *p, const char **ret_reason)
{
        if (!p)
                return 0;
        /* PSI averages are percentages. */
        if ((p->has_some_avg10 && !(p->some_avg10 >= 0 && p->some_avg10 <= 100)) ||
            (p->has_some_avg60 && !(p->some_avg60 >= 0 && p->some_avg60 <= 100)) ||
            (p->has_full_avg10 && !(p->full_avg10 >= 0 && p->full_avg10 <= 100)) ||
            (p->has_full_avg60 && !(p->full_avg60 >= 0 && p->full_avg60 <= 100)))
                FAIL("pressure average out of [0, 100]");
        if ((p->has_some_total_usec && p->some_total_usec > STORE_COUNTER_MAX) ||
            (p->has_full_total_usec && p->full_total_usec > STORE_COUNTER_MAX))
                FAIL("pressure total out of range");
        return 0;
}

int ingest_sample_check(const Seatmeter__Sample *s, int64_t now_ms, const char **ret_reason)
{
        int r;

        if (!s)
                FAIL("no sample");
        if (!s->has_time_ms || s->time_ms <= 0)
                FAIL("time_ms missing or not positive");
        if (s->time_ms > now_ms + STORE_FUTURE_MAX_MS)
                FAIL("time_ms more than a day in the future");
        if (s->has_seq && s->seq > STORE_COUNTER_MAX)
                FAIL("seq out of range");

        r = ingest_limits_check(s->limits, ret_reason);
        if (r < 0)
                return r;

        if ((s->has_cpu_usage_usec && s->cpu_usage_usec > STORE_COUNTER_MAX) ||
            (s->has_cpu_user_usec && s->cpu_user_usec > STORE_COUNTER_MAX) ||
            (s->has_cpu_system_usec && s->cpu_system_usec > STORE_COUNTER_MAX) ||
            (s->has_cpu_nr_periods && s->cpu_nr_periods > STORE_COUNTER_MAX) ||
            (s->has_cpu_nr_throttled && s->cpu_nr_throttled > STORE_COUNTER_MAX) ||
            (s->has_cpu_throttled_usec && s->cpu_throttled_usec > STORE_COUNTER_MAX) ||
            (s->has_cpu_steal_usec && s->cpu_steal_usec > STORE_COUNTER_MAX))
                FAIL("cpu counter out of range");
        /* The kernel counts a throttled period only among the periods. */
        if (s->has_cpu_nr_periods && s->has_cpu_nr_throttled && s->cpu_nr_throttled > s->cpu_nr_periods)
                FAIL("cpu_nr_throttled above cpu_nr_periods");

        if ((s->has_memory_usage_bytes && s->memory_usage_bytes > STORE_BYTES_MAX) ||
            (s->has_memory_working_set_bytes && s->memory_working_set_bytes > STORE_BYTES_MAX) ||
            (s->has_memory_cache_bytes && s->memory_cache_bytes > STORE_BYTES_MAX) ||
            (s->has_memory_anon_bytes && s->memory_anon_bytes > STORE_BYTES_MAX) ||
            (s->has_memory_swap_bytes && s->memory_swap_bytes > STORE_BYTES_MAX))
                FAIL("memory gauge above 1 EiB");
        if (s->has_memory_oom_kills && s->memory_oom_kills > STORE_COUNTER_MAX)
                FAIL("oom_kills out of range");

        if ((s->has_io_read_bytes && s->io_read_bytes > STORE_COUNTER_MAX) ||
            (s->has_io_write_bytes && s->io_write_bytes > STORE_COUNTER_MAX) ||
            (s->has_io_read_ops && s->io_read_ops > STORE_COUNTER_MAX) ||
            (s->has_io_write_ops && s->io_write_ops > STORE_COUNTER_MAX))
                FAIL("io counter out of range");

        if (s->n_net > STORE_NETDEV_MAX)
                FAIL("too many network interfaces");
        for (size_t i = 0; i < s->n_net; i++) {
                const Seatmeter__NetDev *d = s->net[i];

                if (!d || !d->name || !*d->name || !text_is_valid(d->name, STORE_IFNAME_MAX))
                        FAIL("network interface without a valid name");
                if ((d->has_rx_bytes && d->rx_bytes > STORE_COUNTER_MAX) ||
                    (d->has_tx_bytes && d->tx_bytes > STORE_COUNTER_MAX) ||
                    (d->has_rx_packets && d->rx_packets > STORE_COUNTER_MAX) ||
                    (d->has_tx_packets && d->tx_packets > STORE_COUNTER_MAX) ||
                    (d->has_rx_errors && d->rx_errors > STORE_COUNTER_MAX) ||
                    (d->has_tx_errors && d->tx_errors > STORE_COUNTER_MAX) ||
                    (d->has_rx_dropped && d->rx_dropped > STORE_COUNTER_MAX) ||
                    (d->has_tx_dropped && d->tx_dropped > STORE_COUNTER_MAX))
                        FAIL("network counter out of range");
                /* Duplicate names would make the per-interface table ambiguous. The list is short
                 * (the agent sends a handful), and bounded by STORE_NETDEV_MAX. */
                for (size_t j = 0; j < i; j++)
                        if (streq(s->net[j]->name, d->name))
                                FAIL("network interface listed twice");
        }

        r = pressure_check(s->cpu_pressure, ret_reason);
        if (r < 0)
                return r;
        r = pressure_check(s->memory_pressure, ret_reason);
        if (r < 0)
                return r;
        return pressure_check(s->io_pressure, ret_reason);
}
