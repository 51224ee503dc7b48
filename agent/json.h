#pragma once
/* The JSON line of "seatmeter-agent sample" (field names fixed by DESIGN.md), written into a caller's
 * buffer without allocation. Absent values are null. */

#include "label.h"
#include "sample.h"

#define JSON_SAMPLE_MAX 24576 /* a sample with AGENT_NET_MAX interfaces and LABELS_MAX labels fits below this */

/* Formats s, with the agent's labels (NULL: none), as one JSON object (no newline) into buf. Returns the
 * length, or -ENOBUFS. */
int json_format_sample(const AgentSample *s, const Labels *labels, char *buf, size_t size);
