#pragma once
/* The JSON line of "seatmeter-agent sample" (field names fixed by DESIGN.md), written into a caller's
 * buffer without allocation. Absent values are null. */

#include "sample.h"

#define JSON_SAMPLE_MAX 16384 /* a sample with AGENT_NET_MAX interfaces fits well below this */

/* Formats s as one JSON object (no newline) into buf. Returns the length, or -ENOBUFS. */
int json_format_sample(const AgentSample *s, char *buf, size_t size);
