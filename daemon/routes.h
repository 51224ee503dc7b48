#pragma once
/* Every path seatmeterd answers over HTTP, in one table (routes.c): its methods, whether it reads the
 * database, whether it needs the bearer token, the arguments it takes, and who answers it (a route of
 * the API, or a file of the dashboard). The transport (http.c: methods, authentication, the dashboard's
 * files, opening the database) and the dispatch (api.c) both read it; nothing else knows a path. */

#include "api.h"

#define ROUTES_INDEX_FILE "index.html" /* the dashboard's page, served for "/" */

typedef enum RouteMethod {
        ROUTE_GET = 1 << 0,
        ROUTE_HEAD = 1 << 1,
        ROUTE_POST = 1 << 2, /* with a body of at most API_BODY_MAX bytes */
} RouteMethod;

typedef enum RouteDb {
        ROUTE_DB_NONE,     /* answered without the database: no connection is opened */
        ROUTE_DB_OPTIONAL, /* reads it when it can, answers without it too */
        ROUTE_DB_REQUIRED, /* 503 without it; the answer reads one snapshot (a read transaction) */
} RouteDb;

typedef enum RouteAccess {
        ROUTE_PUBLIC, /* no token ever: probes, and the dashboard's files (the page asks for the token) */
        ROUTE_TOKEN,  /* the bearer token when one is configured */
} RouteAccess;

typedef struct Route {
        /* Literal segments, at most one "{id}" segment (non-empty, no '/'), and optionally a final "{*}"
         * that matches any rest, "" included. */
        const char *pattern;
        unsigned methods; /* RouteMethod bits */
        RouteDb db;
        RouteAccess access;
        /* NULL: a file of the dashboard, served by http.c: asset names it, or (asset NULL) the {*} rest. */
        ApiHandler handler;
        const char *asset;
        /* The arguments allowed (NULL-terminated; an empty list: none), checked before the handler runs;
         * NULL: any, ignored. repeatable: the one that may be given more than once, or NULL. */
        const char *const *args;
        const char *repeatable;
} Route;

typedef struct RouteMatch {
        const Route *route;
        const char *id; /* the {id} segment inside the path (not NUL-terminated), or NULL */
        size_t id_len;
        const char *rest; /* the {*} rest inside the path (NUL-terminated), or NULL */
} RouteMatch;

/* Finds the route for path (without the query string). Returns true and fills *ret, or false when no
 * route matches (a 404 before authentication). */
bool routes_match(const char *path, RouteMatch *ret);

/* Whether method (an HTTP method name) is one of r's; with r NULL (no route matched), one that every
 * route takes, so that an unknown path is a 404 for those and a 405 for the others. */
bool routes_method_allowed(const Route *r, const char *method);

/* The methods of r (those every route takes when NULL) separated by sep ("GET, HEAD" as the Allow header lists
 * them), into buf of size n (ROUTES_ALLOW_MAX is enough for any sep up to 8 bytes). */
#define ROUTES_ALLOW_MAX 32
void routes_allow(const Route *r, const char *sep, char *buf, size_t n);
