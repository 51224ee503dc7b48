#pragma once
/* Wire types to the daemon's own (sample.h), at ingest, after ingest-validate.h accepted them. */

#include "proto/seatmeter.pb-c.h"
#include "sample.h"
#include "store.h"

/* A converted sample and the memory it points into (its limits and interfaces). */
typedef struct SampleBuf {
        Sample sample;
        SampleLimits limits;
        SampleNetDev net[STORE_NETDEV_MAX];
} SampleBuf;

/* Converts a sample that passed ingest_sample_check() into buf->sample. Texts point into w. */
void sample_from_wire(const Seatmeter__Sample *w, SampleBuf *buf);
/* Converts a Hello that passed ingest_hello_check(). Texts point into h. */
void hello_from_wire(const Seatmeter__Hello *h, AgentHello *ret);
