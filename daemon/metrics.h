#pragma once
/* /metrics: the Prometheus text exposition format 0.0.4. Names are prefixed seatmeter_ and otherwise
 * follow cAdvisor's where the meaning is the same (seatmeter_cpu_usage_seconds_total ~
 * container_cpu_usage_seconds_total); counters end in _total; base units (seconds, bytes). Per-agent
 * series carry agent="<id>", BBB series bbb="<name>". */

#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "query.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_AGENTS_MAX 4096  /* as CONFIG_AGENTS_MAX: more agents are cut (and logged) */
#define METRICS_NETDEV_MAX 65536 /* interface rows */

/* Renders every metric family from q (agents with their newest sample, netdev, bbb_servers) and the
 * daemon's counters (stats.h) into a new buffer. */
int metrics_render(Query *q, char **ret, size_t *ret_size);

/* The daemon's counters (stats.h) as /metrics names them (without the seatmeter_ prefix), with the key
 * /api/v1/zabbix/daemon serves each under (NULL: not served there): one list for both. */
typedef struct MetricsCounter {
        const char *name;
        const char *zabbix;
        const char *type; /* "counter" or "gauge" */
        const char *help;
        size_t offset; /* of the atomic_uint_fast64_t in DaemonStats */
} MetricsCounter;
extern const MetricsCounter metrics_counters[];
extern const size_t metrics_n_counters;
/* c's value now (a relaxed atomic read). */
uint64_t metrics_counter_value(const MetricsCounter *c);

/* Writes s as a label value: backslash, double quote and line feed escaped. */
void metrics_write_label_value(FILE *f, const char *s);
/* Writes a sample value: integers exactly, others with 17 significant digits, NaN/+Inf/-Inf spelled
 * as Prometheus wants. */
void metrics_write_value(FILE *f, double v);
