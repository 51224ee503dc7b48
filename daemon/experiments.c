/* Experiments created through the API. See experiments.h. */

#include <errno.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "experiments.h"
#include "macro.h"

/* An integer member of o within [0, max]: 0, or -EINVAL. */
static int time_member(json_t *o, const char *key, int64_t max, int64_t *ret)
{
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
                return -EINVAL;
        *ret = (int64_t)json_integer_value(v);
        return 0;
}

static int fail(const char **ret_reason, const char *reason)
{
        *ret_reason = reason;
        return -EINVAL;
}

int experiment_request_parse(const char *body, size_t size, int64_t time_max_ms, ExperimentRequest *ret,
                             const char **ret_reason)
{
        json_t *o, *name;
        json_error_t err;
        ExperimentRequest e = { 0 };
        const char *key;
        json_t *v;
        int r = 0;

        assert(body || size == 0);
        assert(ret);
        assert(ret_reason);

        if (size == 0)
                return fail(ret_reason, "the body must be a JSON object {\"name\", \"from\", \"to\"}");
        o = json_loadb(body, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
        if (!o)
                return fail(ret_reason, "the body is not valid JSON (or repeats a key)");
        if (!json_is_object(o)) {
                r = fail(ret_reason, "the body must be a JSON object {\"name\", \"from\", \"to\"}");
                goto out;
        }
        json_object_foreach(o, key, v)
                if (!streq(key, "name") && !streq(key, "from") && !streq(key, "to")) {
                        r = fail(ret_reason, "unknown key in the body (name, from and to only)");
                        goto out;
                }
        name = json_object_get(o, "name");
        /* A NUL inside the string would read as a shorter name: compare the lengths. */
        if (!json_is_string(name) || json_string_length(name) > ID_MAX ||
            strlen(json_string_value(name)) != json_string_length(name) || !id_is_valid(json_string_value(name))) {
                r = fail(ret_reason, "'name' must be 1 to 64 of A-Z a-z 0-9 . _ -");
                goto out;
        }
        if (time_member(o, "from", time_max_ms, &e.start_ms) < 0 || time_member(o, "to", time_max_ms, &e.end_ms) < 0) {
                r = fail(ret_reason, "'from' and 'to' must be integers of epoch milliseconds");
                goto out;
        }
        if (e.start_ms >= e.end_ms) {
                r = fail(ret_reason, "'from' must be before 'to'");
                goto out;
        }
        memcpy(e.name, json_string_value(name), json_string_length(name) + 1);
        *ret = e;
out:
        json_decref(o);
        return r;
}

static int sqlite_errno(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_NOMEM:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

int experiment_store(const char *db_path, const ExperimentRequest *e, int64_t now_ms, int busy_ms)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        int rc;

        assert(db_path);
        assert(e);

        /* Never create the file: the store made it, with its schema. */
        rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(db, busy_ms);
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(db,
                                        "INSERT INTO experiments (name, start_ms, end_ms, created_ms)"
                                        " VALUES (?1, ?2, ?3, ?4)",
                                        -1, &s, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(s, 1, e->name, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, e->start_ms);
                sqlite3_bind_int64(s, 3, e->end_ms);
                sqlite3_bind_int64(s, 4, now_ms);
                rc = sqlite3_step(s);
                if (rc == SQLITE_DONE)
                        rc = SQLITE_OK;
        }
        sqlite3_finalize(s);
        sqlite3_close_v2(db);
        return rc == SQLITE_OK ? 0 : sqlite_errno(rc);
}
