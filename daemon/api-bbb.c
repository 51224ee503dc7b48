/* The BBB servers' route (api-bbb.h). */
#include <errno.h>

#include "api-bbb.h"

static int bbb_append(const QueryBbb *b, void *userdata)
{
        json_t *o = json_object();

        if (!o || json_array_append_new(userdata, o) < 0)
                return -ENOMEM;
        if (api_json_set(o, "name", api_json_text(b->name)) < 0 ||
            api_json_set(o, "up", b->up < 0 ? json_null() : json_boolean(b->up)) < 0 ||
            api_json_set(o, "last_poll_ms", api_json_integer(b->last_poll_ms)) < 0 ||
            api_json_set(o, "last_ok_ms", api_json_integer(b->last_ok_ms)) < 0 ||
            api_json_set(o, "meetings", api_json_integer(b->meetings)) < 0 ||
            api_json_set(o, "participants", api_json_integer(b->participants)) < 0 ||
            api_json_set(o, "listeners", api_json_integer(b->listeners)) < 0 ||
            api_json_set(o, "voice", api_json_integer(b->voice)) < 0 ||
            api_json_set(o, "video", api_json_integer(b->video)) < 0 ||
            api_json_set(o, "moderators", api_json_integer(b->moderators)) < 0 ||
            api_json_set(o, "breakouts", api_json_integer(b->breakouts)) < 0 ||
            api_json_set(o, "error", api_json_text(b->error)) < 0)
                return -ENOMEM;
        return 0;
}

int api_bbb_array(Query *q, QueryBbbCb append, ApiResponse *ret)
{
        json_t *a = json_array();

        return a ? api_response_array(ret, a, query_bbb(q, append, a)) : -ENOMEM;
}

int api_route_bbb(Query *q, const ApiRequest *req, const char *id, ApiResponse *ret)
{
        return api_bbb_array(q, bbb_append, ret);
}
