#pragma once
/* The one check of what an agent sends, at ingest: every value within the limits of store.h (what the
 * store accepts). Anything that reaches store_add_sample_counts() or store_agent_hello() passed these;
 * the store asserts instead of checking again. */

#include "proto/seatmeter.pb-c.h"
#include "store.h"

/* Checks one sample against the store's limits. now_ms is the daemon's clock. Returns 0, or -EINVAL with
 * *ret_reason (static text, may be NULL) saying why. */
int ingest_sample_check(const Seatmeter__Sample *sample, int64_t now_ms, const char **ret_reason);
/* Checks a Limits message (from Hello or Sample). Returns 0 or -EINVAL with the reason. */
int ingest_limits_check(const Seatmeter__Limits *l, const char **ret_reason);
/* Checks the texts and limits of a Hello. Returns 0 or -EINVAL with the reason. */
int ingest_hello_check(const Seatmeter__Hello *h, const char **ret_reason);
