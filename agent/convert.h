#pragma once
/* Conversion of the agent's plain samples (sample.h) to the wire messages (seatmeter.proto). No
 * allocation except in convert_sample_pack(): the protobuf-c structs live in the Wire* holders below and
 * point into the AgentSample they were made from, which must outlive them. */

#include "label.h"
#include "proto/seatmeter.pb-c.h"
#include "sample.h"

typedef struct WireSample {
        Seatmeter__Sample sample;
        Seatmeter__Limits limits;
        Seatmeter__NetDev net[AGENT_NET_MAX];
        Seatmeter__NetDev *net_ptrs[AGENT_NET_MAX];
        char net_names[AGENT_NET_MAX][AGENT_IFNAME_MAX + 1]; /* NUL-terminated copies */
        Seatmeter__Pressure cpu_pressure, memory_pressure, io_pressure;
} WireSample;

typedef struct WireHello {
        Seatmeter__Hello hello;
        Seatmeter__Limits limits;
        Seatmeter__Label labels[LABELS_MAX];
        Seatmeter__Label *label_ptrs[LABELS_MAX];
} WireHello;

/* What Hello carries beyond the sample itself. Strings may be NULL or empty (then left out). */
typedef struct HelloInfo {
        const char *agent_id;
        const char *token;
        const char *hostname;
        const char *machine_id;
        const char *agent_version;
        const Labels *labels; /* NULL: none; must outlive the WireHello */
        int64_t clock_ms;
} HelloInfo;

/* True when the two sets of limits are the same (what decides whether a Sample repeats them). */
bool convert_limits_equal(const AgentLimits *a, const AgentLimits *b);

/* Fills w from s: every value s has, and only those (has_* set accordingly); the limits only when
 * with_limits. Pressure goes as its cumulative totals only: the kernel's avg10/avg60 are smoothed views
 * of the same totals, and leaving them out keeps a sample under 200 bytes. */
void convert_sample(const AgentSample *s, bool with_limits, WireSample *w);

/* Fills w for the Hello of a connection: protocol version, identity, the cgroup of s and its limits. */
void convert_hello(const HelloInfo *info, const AgentSample *s, WireHello *w);

/* Converts and packs s as a Sample message (no frame prefix) into a new buffer. Returns 0 or -ENOMEM. */
int convert_sample_pack(const AgentSample *s, bool with_limits, uint8_t **ret, size_t *ret_size);
