/* See http-guard.h. The waiting connections form one list, oldest first, under one mutex; a connection
 * leaves it when its headers are complete and goes back to the tail when its request is answered. */

#include <pthread.h>
#include <sys/socket.h>

#include "http-guard.h"
#include "stats.h"
#include "util.h"

#define GUARD_TICK_MS 250

typedef struct GuardConn GuardConn;
struct GuardConn {
        GuardConn *prev, *next;
        int fd;
        int64_t since_ms; /* CLOCK_MONOTONIC: waiting since */
        bool listed;
        bool shut; /* shut down by the guard; libmicrohttpd closes it soon */
};

struct HttpGuard {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t thread;
        bool thread_started, stop;
        GuardConn *head, *tail;
        unsigned n_waiting, max_waiting;
        unsigned deadline_ms;
};

static int64_t mono_ms(void)
{
        return (int64_t)(now_usec(CLOCK_MONOTONIC) / USEC_PER_MSEC);
}

static void unlink_conn(HttpGuard *g, GuardConn *gc)
{
        if (!gc->listed)
                return;
        if (gc->prev)
                gc->prev->next = gc->next;
        else
                g->head = gc->next;
        if (gc->next)
                gc->next->prev = gc->prev;
        else
                g->tail = gc->prev;
        gc->prev = gc->next = NULL;
        gc->listed = false;
        g->n_waiting--;
}

static void append_conn(HttpGuard *g, GuardConn *gc)
{
        gc->prev = g->tail;
        gc->next = NULL;
        if (g->tail)
                g->tail->next = gc;
        else
                g->head = gc;
        g->tail = gc;
        gc->listed = true;
        gc->since_ms = mono_ms();
        g->n_waiting++;
}

/* With the lock held: libmicrohttpd closes the descriptor only after its CLOSED notification, which
 * takes the lock, so fd is still this connection's. */
static void shut_conn(HttpGuard *g, GuardConn *gc)
{
        unlink_conn(g, gc);
        gc->shut = true;
        (void)shutdown(gc->fd, SHUT_RDWR);
}

static void *guard_thread(void *userdata)
{
        HttpGuard *g = userdata;

        pthread_mutex_lock(&g->lock);
        while (!g->stop) {
                struct timespec ts;
                int64_t now = mono_ms();

                while (g->head && now - g->head->since_ms >= (int64_t)g->deadline_ms) {
                        STATS_INC(http_header_timeouts);
                        shut_conn(g, g->head);
                }
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_nsec += GUARD_TICK_MS * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                (void)pthread_cond_timedwait(&g->wake, &g->lock, &ts);
        }
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

int http_guard_new(unsigned max_waiting, unsigned deadline_ms, HttpGuard **ret)
{
        _cleanup_(http_guard_freep) HttpGuard *g = NULL;
        pthread_condattr_t attr;
        int r;

        assert(ret);
        g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;
        g->max_waiting = MAX(max_waiting, 1u);
        g->deadline_ms = MAX(deadline_ms, 1u);
        pthread_mutex_init(&g->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&g->wake, &attr);
        pthread_condattr_destroy(&attr);
        r = pthread_create(&g->thread, NULL, guard_thread, g);
        if (r != 0)
                return -r;
        g->thread_started = true;
        *ret = TAKE_PTR(g);
        return 0;
}

HttpGuard *http_guard_free(HttpGuard *g)
{
        if (!g)
                return NULL;
        if (g->thread_started) {
                pthread_mutex_lock(&g->lock);
                g->stop = true;
                pthread_cond_signal(&g->wake);
                pthread_mutex_unlock(&g->lock);
                pthread_join(g->thread, NULL);
        }
        /* Every connection was closed by MHD_stop_daemon(), and with it freed. */
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
}

void http_guard_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                  enum MHD_ConnectionNotificationCode code)
{
        HttpGuard *g = cls;
        GuardConn *gc = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

                if (!info)
                        return;
                gc = calloc(1, sizeof *gc);
                if (!gc)
                        return; /* not guarded; libmicrohttpd's own limits still hold */
                gc->fd = info->connect_fd;
                pthread_mutex_lock(&g->lock);
                append_conn(g, gc);
                if (g->n_waiting > g->max_waiting) {
                        STATS_INC(http_connections_shed);
                        shut_conn(g, g->head);
                }
                pthread_mutex_unlock(&g->lock);
                *socket_context = gc;
                return;
        }
        if (!gc)
                return;
        pthread_mutex_lock(&g->lock);
        unlink_conn(g, gc);
        pthread_mutex_unlock(&g->lock);
        free(gc);
        *socket_context = NULL;
}

static GuardConn *guard_conn_of(struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return info ? info->socket_context : NULL;
}

void http_guard_request_started(HttpGuard *g, struct MHD_Connection *c)
{
        GuardConn *gc = guard_conn_of(c);

        if (!g || !gc)
                return;
        pthread_mutex_lock(&g->lock);
        unlink_conn(g, gc);
        pthread_mutex_unlock(&g->lock);
}

void http_guard_request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                                  enum MHD_RequestTerminationCode toe)
{
        HttpGuard *g = cls;
        GuardConn *gc = guard_conn_of(c);

        if (!gc || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
                return;
        pthread_mutex_lock(&g->lock);
        if (!gc->listed && !gc->shut)
                append_conn(g, gc);
        pthread_mutex_unlock(&g->lock);
}
