#pragma once
/* Named experiments created through the HTTP API (POST /api/v1/experiments): parsing the request body
 * and storing the experiment in the database's experiments table (schema/005_experiments.sql). Those of
 * the config ([experiment NAME]) live in Config; api-experiments.c answers both as one list. */

#include <stddef.h>
#include <stdint.h>

#include "id.h"



typedef struct ExperimentRequest {
        char name[ID_MAX + 1];
        int64_t start_ms, end_ms; /* inclusive, epoch ms, start < end (as in the config) */
} ExperimentRequest;

/* Parses a body {"name": "NAME", "from": MS, "to": MS}: a JSON object with exactly these keys, name an
 * id (id.h), from and to integers of epoch milliseconds within [0, time_max_ms], from < to. Returns 0
 * and *ret, or -EINVAL with *ret_reason set to a static sentence saying what is wrong. Pure: no I/O. */
int experiment_request_parse(const char *body, size_t size, int64_t time_max_ms, ExperimentRequest *ret,
                             const char **ret_reason);

/* Inserts e (created at now_ms) into the experiments table of the database at db_path, through a
 * read-write connection of its own that waits up to busy_ms for the ingest writer's transaction. Returns
 * 0 once committed, -EEXIST when the name is taken, -EBUSY when the writer held the database too long,
 * -ENOENT when the database cannot be opened, else -EIO. */
int experiment_store(const char *db_path, const ExperimentRequest *e, int64_t now_ms, int busy_ms);
