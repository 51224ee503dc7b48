/* Rates, trends and curve deltas of the store: pure arithmetic over rows. See store-derive.h. */

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "../store.h"
#include "macro.h"
#include "store-derive.h"
#include "util.h"

#define MS_PER_HOUR (3600LL * 1000)

/* Rate per second of a counter over dt_ms, NAN when unknown or reset (the counter went backwards). */
static double counter_rate(int64_t prev, int64_t cur, int64_t dt_ms)
{
        if (prev < 0 || cur < 0 || cur < prev)
                return NAN;
        return (double)(cur - prev) * 1000.0 / (double)dt_ms;
}

/* Fills the derived rates of row from prev. */
void derive_rates(Row *row, const Prev *prev, int n_net, double effective_cpus)
{
        int64_t dt_ms;
        double v;

        for (int i = 0; i < _R_MAX; i++)
                row->rate[i] = NAN;
        if (!prev->valid)
                return;
        dt_ms = row->time_ms - prev->time_ms;
        if (dt_ms <= 0 || dt_ms > STORE_RATE_GAP_MAX_MS)
                return;

        /* usec per second / 1e6 = cores. A jump beyond any machine is a counter that changed meaning
         * (another cgroup), not a rate. */
        v = counter_rate(prev->counter[C_CPU_USAGE], row->counter[C_CPU_USAGE], dt_ms) / 1e6;
        if (v <= STORE_CPUS_MAX) {
                row->rate[R_CPU_CORES] = v;
                if (effective_cpus > 0)
                        row->rate[R_CPU_RATIO] = v / effective_cpus;
        }
        /* Steal is a share of the same CPUs: what the VM was granted and the hypervisor gave away. */
        v = counter_rate(prev->counter[C_STEAL_USEC], row->counter[C_STEAL_USEC], dt_ms) / 1e6;
        if (v <= STORE_CPUS_MAX && effective_cpus > 0)
                row->rate[R_STEAL_RATIO] = v / effective_cpus;

        /* A cgroup that ran no CFS period was not throttled: 0, not unknown, so that a guest throttled
         * while busy and idle since does not keep its last ratio (a trigger on it would never resolve). */
        if (prev->counter[C_NR_PERIODS] >= 0 && row->counter[C_NR_PERIODS] >= prev->counter[C_NR_PERIODS] &&
            prev->counter[C_NR_THROTTLED] >= 0 && row->counter[C_NR_THROTTLED] >= prev->counter[C_NR_THROTTLED]) {
                int64_t periods = row->counter[C_NR_PERIODS] - prev->counter[C_NR_PERIODS];
                int64_t throttled = row->counter[C_NR_THROTTLED] - prev->counter[C_NR_THROTTLED];

                if (periods == 0 && throttled == 0)
                        row->rate[R_THROTTLED_RATIO] = 0;
                else if (periods > 0 && throttled <= periods)
                        row->rate[R_THROTTLED_RATIO] = (double)throttled / (double)periods;
        }

        row->rate[R_IO_READ] = counter_rate(prev->counter[C_IO_READ], row->counter[C_IO_READ], dt_ms);
        row->rate[R_IO_WRITE] = counter_rate(prev->counter[C_IO_WRITE], row->counter[C_IO_WRITE], dt_ms);
        /* A sum over a different set of interfaces is not a rate. */
        if (prev->n_net < 0 || prev->n_net == n_net) {
                row->rate[R_NET_RX] = counter_rate(prev->counter[C_NET_RX], row->counter[C_NET_RX], dt_ms);
                row->rate[R_NET_TX] = counter_rate(prev->counter[C_NET_TX], row->counter[C_NET_TX], dt_ms);
        }
}

static void trend_acc_add(TrendAcc *t, double v)
{
        if (isnan(v))
                return;
        if (t->n == 0) {
                t->min = t->max = v;
                t->sum = 0;
        } else {
                t->min = MIN(t->min, v);
                t->max = MAX(t->max, v);
        }
        t->sum += v;
        t->n++;
}

int derive_trend_add(TrendDeltas *deltas, const Row *row)
{
        int64_t hour = row->time_ms - row->time_ms % MS_PER_HOUR;
        TrendDelta *t = NULL;
        int r;

        /* Newest first: nearly every sample lands in the hour of the previous one. */
        for (size_t i = deltas->n; i > 0; i--)
                if (deltas->d[i - 1].hour_ms == hour) {
                        t = &deltas->d[i - 1];
                        break;
                }
        if (!t) {
                r = GREEDY_REALLOC(deltas->d, deltas->alloc, deltas->n + 1);
                if (r < 0)
                        return r;
                t = &deltas->d[deltas->n++];
                *t = (TrendDelta){ .hour_ms = hour };
        }

        t->n++;
        trend_acc_add(&t->col[T_CPU_CORES], row->rate[R_CPU_CORES]);
        trend_acc_add(&t->col[T_CPU_RATIO], row->rate[R_CPU_RATIO]);
        trend_acc_add(&t->col[T_THROTTLED_RATIO], row->rate[R_THROTTLED_RATIO]);
        trend_acc_add(&t->col[T_MEMORY], row->gauge[G_MEMORY] < 0 ? NAN : (double)row->gauge[G_MEMORY]);
        trend_acc_add(&t->col[T_WORKING_SET],
                      row->gauge[G_WORKING_SET] < 0 ? NAN : (double)row->gauge[G_WORKING_SET]);
        trend_acc_add(&t->col[T_IO_READ], row->rate[R_IO_READ]);
        trend_acc_add(&t->col[T_IO_WRITE], row->rate[R_IO_WRITE]);
        trend_acc_add(&t->col[T_NET_RX], row->rate[R_NET_RX]);
        trend_acc_add(&t->col[T_NET_TX], row->rate[R_NET_TX]);
        trend_acc_add(&t->col[T_USERS], row->users < 0 ? NAN : (double)row->users);
        trend_acc_add(&t->col[T_STEAL_RATIO], row->rate[R_STEAL_RATIO]);
        return 0;
}

static int curve_acc_add(CurveAcc *c, double v)
{
        int r;

        if (isnan(v))
                return 0;
        if (!c->hist) {
                r = curve_hist_new(&c->hist);
                if (r < 0)
                        return r;
        }
        c->max = c->n == 0 ? v : MAX(c->max, v);
        c->n++;
        c->sum += v;
        c->sumsq += v * v;
        curve_hist_add(c->hist, v);
        return 0;
}

int derive_curve_add(CurveDeltas *deltas, const Row *row)
{
        int64_t hour = row->time_ms - row->time_ms % MS_PER_HOUR, epoch = MAX(row->epoch, (int64_t)0);
        int32_t listeners = row->listeners, voice = row->voice, video = row->video;
        CurveDelta *c = NULL;
        double v[_CURVE_METRIC_MAX];
        int r;

        if (row->users < 0)
                return 0;
        if (listeners < 0 || voice < 0 || video < 0)
                listeners = voice = video = -1;

        /* Newest first: nearly every sample lands where the previous one did. */
        for (size_t i = deltas->n; i > 0; i--) {
                CurveDelta *d = &deltas->d[i - 1];

                if (d->users == row->users && d->hour_ms == hour && d->epoch == epoch &&
                    d->listeners == listeners && d->voice == voice && d->video == video) {
                        c = d;
                        break;
                }
        }
        if (!c) {
                r = GREEDY_REALLOC(deltas->d, deltas->alloc, deltas->n + 1);
                if (r < 0)
                        return r;
                c = &deltas->d[deltas->n++];
                *c = (CurveDelta){ .hour_ms = hour, .epoch = epoch, .users = row->users,
                                   .listeners = listeners, .voice = voice, .video = video };
        }

        v[CURVE_CPU_RATIO] = row->rate[R_CPU_RATIO];
        v[CURVE_CPU_CORES] = row->rate[R_CPU_CORES];
        v[CURVE_WORKING_SET] = row->gauge[G_WORKING_SET] < 0 ? NAN : (double)row->gauge[G_WORKING_SET];
        v[CURVE_NET_RX] = row->rate[R_NET_RX];
        v[CURVE_NET_TX] = row->rate[R_NET_TX];
        v[CURVE_STEAL_RATIO] = row->rate[R_STEAL_RATIO];
        for (unsigned m = 0; m < _CURVE_METRIC_MAX; m++) {
                r = curve_acc_add(&c->m[m], v[m]);
                if (r < 0)
                        return r;
        }
        return 0;
}

void derive_trends_clear(TrendDeltas *t)
{
        t->n = 0;
}

void derive_curves_clear(CurveDeltas *c)
{
        for (size_t i = 0; i < c->n; i++)
                for (unsigned m = 0; m < _CURVE_METRIC_MAX; m++)
                        c->d[i].m[m].hist = curve_hist_free(c->d[i].m[m].hist);
        c->n = 0;
}

void derive_trends_free(TrendDeltas *t)
{
        free(t->d);
        t->d = NULL;
        t->n = t->alloc = 0;
}

void derive_curves_free(CurveDeltas *c)
{
        derive_curves_clear(c);
        free(c->d);
        c->d = NULL;
        c->alloc = 0;
}
