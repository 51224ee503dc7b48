#pragma once
/* The figures of one BigBlueButton server at one poll: what the XML parser produces, the poller keeps
 * and the store records. A header of its own so the pure parser does not need the poller's. */

#include <stdint.h>

typedef struct BbbCounts {
        int64_t meetings, participants, listeners, voice, video, moderators, breakouts;
} BbbCounts;
