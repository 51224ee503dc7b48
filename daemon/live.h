#pragma once
/* The newest committed sample of each agent, in memory, shared by the ingest loop (which publishes after
 * every commit) and the HTTP threads (which answer /api/v1/agents/{id}/latest from it).
 *
 * Why: a dashboard fleet polls /latest tens of thousands of times a second. Answered from SQLite, every
 * request is a read transaction on the WAL; those share the WAL index with the writer and cost ingest
 * more than 10% of its rate at 20,000 requests a second on two cores (docs/benchmarks.md). Here a request
 * is a hash lookup and a copy under one mutex held for well under a microsecond.
 *
 * What is here is never newer than the database: the store publishes only after COMMIT returned. It may
 * lack an agent (after a restart, or an agent that has sent nothing yet): the HTTP thread then reads the
 * database and offers what it found, which is taken only if nothing newer arrived meanwhile. */

#include "macro.h"
#include "query.h"

#define LIVE_AGENTS_MAX 65536 /* beyond this, agents are answered from the database */

typedef struct Live Live;

int live_new(Live **ret);
Live *live_free(Live *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(Live *, live_free)

/* After a commit: sample is agent id's (database number num) newest committed row. Kept unless what is
 * there already is newer. -ENOMEM, or -ENOSPC beyond LIVE_AGENTS_MAX (the agent is then simply not
 * cached). */
int live_publish(Live *l, const char *id, int64_t num, const QuerySample *sample);

/* From a read of the database (sample NULL: the agent exists but has no samples). Taken only when the
 * agent is not here yet: anything published meanwhile is newer than the read. */
int live_offer(Live *l, const char *id, int64_t num, const QuerySample *sample);

/* Returns 1 and the agent's number and newest sample (*ret_has false when it has none yet), or 0 when
 * the agent is not here. */
int live_get(Live *l, const char *id, int64_t *ret_num, QuerySample *ret_sample, bool *ret_has);

/* Retention removed the raw rows before cutoff_ms: samples older than that are dropped from here too, so
 * that /latest answers the same before and after a restart. */
void live_forget_before(Live *l, int64_t cutoff_ms);
