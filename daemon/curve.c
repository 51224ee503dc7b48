/* Per-user curves: log-scale histograms, running aggregates and the least-squares fit. See curve.h.
 *
 * The histogram keeps a dense window of buckets [lo, lo + len) that grows as values arrive: the values of
 * one (agent, metric, participant count) cluster within a few octaves, so the window stays a few hundred
 * buckets even though the whole range is 6,144. Bucket b holds values v with
 * b <= log2(v) * 64 < b + 1, and a quantile answers the bucket's geometric centre, 2^((b + 0.5) / 64),
 * which is within 2^(1/128) - 1 = 0.54% of any value in it. */

#include <math.h>

#include "curve.h"

#define BUCKET_MIN (CURVE_HIST_MIN_EXP * CURVE_HIST_PER_OCTAVE)
#define BUCKET_MAX (CURVE_HIST_MAX_EXP * CURVE_HIST_PER_OCTAVE - 1)
#define GROW_SLACK 16 /* extra buckets on the growing side, so a drifting value does not realloc each time */

struct CurveHist {
        uint64_t zero;   /* values <= 2^CURVE_HIST_MIN_EXP */
        uint64_t total;  /* zero included */
        int32_t lo;      /* bucket number of counts[0] */
        uint32_t len;
        uint64_t *counts;
};

static const char *const metric_names[_CURVE_METRIC_MAX] = {
        [CURVE_CPU_RATIO] = "cpu_ratio",
        [CURVE_CPU_CORES] = "cpu_cores",
        [CURVE_WORKING_SET] = "working_set_bytes",
        [CURVE_NET_RX] = "net_rx_bps",
        [CURVE_NET_TX] = "net_tx_bps",
        [CURVE_STEAL_RATIO] = "steal_ratio",
};

const char *curve_metric_to_string(CurveMetric m)
{
        if ((unsigned)m >= _CURVE_METRIC_MAX)
                return NULL;
        return metric_names[m];
}

int curve_metric_from_string(const char *s, CurveMetric *ret)
{
        if (!s)
                return -EINVAL;
        for (unsigned i = 0; i < _CURVE_METRIC_MAX; i++)
                if (streq(s, metric_names[i])) {
                        *ret = (CurveMetric)i;
                        return 0;
                }
        return -EINVAL;
}

int curve_hist_new(CurveHist **ret)
{
        CurveHist *h;

        assert(ret);
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        *ret = h;
        return 0;
}

CurveHist *curve_hist_free(CurveHist *h)
{
        if (!h)
                return NULL;
        free(h->counts);
        free(h);
        return NULL;
}

uint64_t curve_hist_count(const CurveHist *h)
{
        return h ? h->total : 0;
}

/* Bucket of v, or INT32_MIN for the zero bucket. NaN never gets here. */
static int32_t bucket_of(double v)
{
        double l;

        if (!(v > ldexp(1.0, CURVE_HIST_MIN_EXP)))
                return INT32_MIN;
        if (v >= ldexp(1.0, CURVE_HIST_MAX_EXP))
                return BUCKET_MAX;
        l = floor(log2(v) * CURVE_HIST_PER_OCTAVE);
        if (l < BUCKET_MIN)
                return BUCKET_MIN;
        if (l > BUCKET_MAX)
                return BUCKET_MAX;
        return (int32_t)l;
}

static double bucket_value(int32_t b)
{
        return exp2(((double)b + 0.5) / CURVE_HIST_PER_OCTAVE);
}

/* Makes the window cover [b_lo, b_hi] (both within range). */
static int hist_cover(CurveHist *h, int32_t b_lo, int32_t b_hi)
{
        int32_t new_lo, new_hi;
        uint64_t *c;

        assert(b_lo <= b_hi);
        assert(b_lo >= BUCKET_MIN && b_hi <= BUCKET_MAX);

        if (h->len > 0 && b_lo >= h->lo && b_hi < h->lo + (int32_t)h->len)
                return 0;

        if (h->len == 0) {
                new_lo = b_lo;
                new_hi = b_hi;
        } else {
                new_lo = MIN(h->lo, b_lo);
                new_hi = MAX(h->lo + (int32_t)h->len - 1, b_hi);
                /* Leave room on the side that grew. */
                if (new_lo < h->lo)
                        new_lo = MAX(new_lo - GROW_SLACK, BUCKET_MIN);
                if (new_hi > h->lo + (int32_t)h->len - 1)
                        new_hi = MIN(new_hi + GROW_SLACK, BUCKET_MAX);
        }

        c = calloc((size_t)(new_hi - new_lo + 1), sizeof(uint64_t));
        if (!c)
                return -ENOMEM;
        if (h->len > 0)
                memcpy(c + (h->lo - new_lo), h->counts, h->len * sizeof(uint64_t));
        free(h->counts);
        h->counts = c;
        h->lo = new_lo;
        h->len = (uint32_t)(new_hi - new_lo + 1);
        return 0;
}

void curve_hist_add(CurveHist *h, double v)
{
        int32_t b;

        assert(h);
        if (isnan(v) || h->total == UINT64_MAX)
                return;

        b = bucket_of(v);
        if (b == INT32_MIN) {
                h->zero++;
                h->total++;
                return;
        }
        /* Out of memory loses one value of a statistic rather than failing the sample that carried it. */
        if (hist_cover(h, b, b) < 0)
                return;
        h->counts[b - h->lo]++;
        h->total++;
}

double curve_hist_quantile(const CurveHist *h, double q)
{
        uint64_t rank, seen;

        if (!h || h->total == 0 || isnan(q))
                return NAN;
        q = q < 0 ? 0 : q > 1 ? 1 : q;

        /* The smallest value with at least q of the values at or below it (rank counted from 1). */
        rank = (uint64_t)ceil(q * (double)h->total);
        if (rank < 1)
                rank = 1;
        if (rank > h->total)
                rank = h->total;

        seen = h->zero;
        if (rank <= seen)
                return 0;
        for (uint32_t i = 0; i < h->len; i++) {
                seen += h->counts[i];
                if (rank <= seen)
                        return bucket_value(h->lo + (int32_t)i);
        }
        return NAN; /* not reached: total counts every value */
}

int curve_hist_merge(CurveHist *dst, const CurveHist *src)
{
        int32_t first = INT32_MAX, last = INT32_MIN;
        int r;

        assert(dst);
        if (!src || src->total == 0)
                return 0;
        if (dst->total > UINT64_MAX - src->total)
                return -EOVERFLOW;

        for (uint32_t i = 0; i < src->len; i++)
                if (src->counts[i] > 0) {
                        int32_t b = src->lo + (int32_t)i;
                        first = MIN(first, b);
                        last = MAX(last, b);
                }
        if (first <= last) {
                r = hist_cover(dst, first, last);
                if (r < 0)
                        return r;
                for (int32_t b = first; b <= last; b++)
                        dst->counts[b - dst->lo] += src->counts[b - src->lo];
        }
        dst->zero += src->zero;
        dst->total += src->total;
        return 0;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
        size_t n = 0;

        while (v >= 0x80) {
                p[n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        p[n++] = (uint8_t)v;
        return n;
}

/* Reads a varint at *pos (advanced), refusing truncation and encodings over 64 bits. */
static int varint_get(const uint8_t *buf, size_t size, size_t *pos, uint64_t *ret)
{
        uint64_t v = 0;

        for (unsigned shift = 0; shift < 64; shift += 7) {
                uint8_t b;

                if (*pos >= size)
                        return -EBADMSG;
                b = buf[(*pos)++];
                if (shift == 63 && b > 1)
                        return -EBADMSG;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* Wire form, version 1:
 *   u8 version, varint zero count, varint number of pairs, then per non-empty bucket in increasing order
 *   (varint position, varint count >= 1), where the first position is the zigzag-encoded bucket number
 *   and each following one is the gap to the previous bucket minus one. */
int curve_hist_serialize(const CurveHist *h, uint8_t **ret, size_t *ret_size)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t npairs = 0, pos = 0;
        int32_t prev = 0;
        bool first = true;

        assert(h);
        assert(ret);

        for (uint32_t i = 0; i < h->len; i++)
                if (h->counts[i] > 0)
                        npairs++;

        /* Each pair: a position of at most 2 bytes (< 2^14), a count of at most 10. */
        buf = malloc(1 + 10 + 10 + npairs * 12);
        if (!buf)
                return -ENOMEM;

        buf[pos++] = CURVE_HIST_VERSION;
        pos += varint_put(buf + pos, h->zero);
        pos += varint_put(buf + pos, npairs);
        for (uint32_t i = 0; i < h->len; i++) {
                int32_t b = h->lo + (int32_t)i;
                uint64_t delta;

                if (h->counts[i] == 0)
                        continue;
                if (first)
                        delta = b < 0 ? ((uint64_t)(-(int64_t)b) << 1) - 1 : (uint64_t)b << 1;
                else
                        delta = (uint64_t)(b - prev - 1);
                pos += varint_put(buf + pos, delta);
                pos += varint_put(buf + pos, h->counts[i]);
                prev = b;
                first = false;
        }

        assert(pos <= CURVE_HIST_SERIALIZED_MAX);
        *ret_size = pos;
        *ret = TAKE_PTR(buf);
        return 0;
}

int curve_hist_deserialize(const uint8_t *buf, size_t size, CurveHist **ret)
{
        _cleanup_(curve_hist_freep) CurveHist *h = NULL;
        uint64_t zero, npairs, total;
        int64_t b = 0, first_b = 0;
        size_t pos = 0, save;
        int r;

        assert(ret);
        if (!buf && size > 0)
                return -EINVAL;
        if (size > CURVE_HIST_SERIALIZED_MAX)
                return -EMSGSIZE;
        if (size < 1 || buf[0] != CURVE_HIST_VERSION)
                return -EBADMSG;
        pos = 1;

        r = varint_get(buf, size, &pos, &zero);
        if (r < 0)
                return r;
        r = varint_get(buf, size, &pos, &npairs);
        if (r < 0)
                return r;
        if (npairs > CURVE_HIST_BUCKETS || npairs > (size - pos) / 2)
                return -EBADMSG;

        /* First pass: validate and find the bucket range, so the window is allocated once. */
        save = pos;
        total = zero;
        for (uint64_t i = 0; i < npairs; i++) {
                uint64_t delta, count;

                if (varint_get(buf, size, &pos, &delta) < 0 || varint_get(buf, size, &pos, &count) < 0)
                        return -EBADMSG;
                if (delta > 2 * (uint64_t)CURVE_HIST_BUCKETS)
                        return -EBADMSG;
                if (i == 0)
                        b = (delta & 1) ? -(int64_t)((delta + 1) >> 1) : (int64_t)(delta >> 1);
                else
                        b += (int64_t)delta + 1;
                if (b < BUCKET_MIN || b > BUCKET_MAX)
                        return -EBADMSG;
                if (i == 0)
                        first_b = b;
                if (count == 0 || total > UINT64_MAX - count)
                        return -EBADMSG;
                total += count;
        }
        if (pos != size)
                return -EBADMSG;

        r = curve_hist_new(&h);
        if (r < 0)
                return r;
        h->zero = zero;
        h->total = total;
        if (npairs > 0) {
                r = hist_cover(h, (int32_t)first_b, (int32_t)b);
                if (r < 0)
                        return r;
                pos = save;
                for (uint64_t i = 0; i < npairs; i++) {
                        uint64_t delta, count;

                        (void)varint_get(buf, size, &pos, &delta);
                        (void)varint_get(buf, size, &pos, &count);
                        if (i == 0)
                                b = first_b;
                        else
                                b += (int64_t)delta + 1;
                        h->counts[b - h->lo] = count;
                }
        }

        *ret = TAKE_PTR(h);
        return 0;
}

void curve_fit(const CurveAgg *aggs, size_t n_aggs, CurveFit *ret)
{
        double N = 0, Sx = 0, Sy = 0, mx, my, Sxx = 0, Sxy = 0, Syy = 0;
        uint64_t n = 0;

        assert(ret);
        assert(aggs || n_aggs == 0);

        /* Centred sums in two passes: the squares of working-set bytes reach 1e20 and more, and
         * N*Sxx - Sx^2 on raw sums would cancel most of the digits that matter. */
        for (size_t i = 0; i < n_aggs; i++) {
                if (aggs[i].n == 0)
                        continue;
                N += (double)aggs[i].n;
                Sx += (double)aggs[i].n * (double)aggs[i].users;
                Sy += aggs[i].sum;
                n += aggs[i].n;
        }

        *ret = (CurveFit){ .intercept = NAN, .slope = NAN, .r2 = NAN, .n = n, .valid = false };
        if (n == 0)
                return;

        mx = Sx / N;
        my = Sy / N;
        for (size_t i = 0; i < n_aggs; i++) {
                double ni = (double)aggs[i].n, dx, dm, within;

                if (aggs[i].n == 0)
                        continue;
                dx = (double)aggs[i].users - mx;
                dm = aggs[i].sum / ni - my;
                /* Spread of the samples around their own level's mean, clamped: rounding can make
                 * sumsq - sum^2/n slightly negative when every value of the level is the same. */
                within = aggs[i].sumsq - aggs[i].sum * aggs[i].sum / ni;
                if (!(within > 0))
                        within = 0;
                Sxx += ni * dx * dx;
                Sxy += dx * (aggs[i].sum - ni * my);
                Syy += within + ni * dm * dm;
        }

        if (!(Sxx > 0)) {
                /* A single participant count: the level is known, the slope is not. */
                ret->intercept = my;
                return;
        }

        ret->slope = Sxy / Sxx;
        ret->intercept = my - ret->slope * mx;
        /* Every value on the line (Syy == 0): everything is explained, as scikit-learn's r2_score says. */
        ret->r2 = Syy > 0 ? (Sxy * Sxy) / (Sxx * Syy) : 1.0;
        if (ret->r2 > 1)
                ret->r2 = 1;
        ret->valid = isfinite(ret->slope) && isfinite(ret->intercept);
}

double curve_capacity(const CurveFit *fit, double threshold)
{
        double x;

        assert(fit);
        if (!fit->valid || !(fit->slope > 0) || !isfinite(threshold))
                return -1;
        x = (threshold - fit->intercept) / fit->slope;
        if (!isfinite(x))
                return -1;
        return x < 0 ? 0 : x;
}

int curve_agg_from_row(int64_t users, int64_t n, double sum, double sumsq, double max, const void *blob,
                       size_t blob_size, CurveAgg *ret)
{
        _cleanup_(curve_hist_freep) CurveHist *h = NULL;
        int r;

        assert(ret);
        if (users < 0 || n < 0 || !isfinite(sum) || !isfinite(sumsq) || sumsq < 0 || isnan(max))
                return -EBADMSG;
        if (n == 0 && (sum != 0 || sumsq != 0))
                return -EBADMSG;
        if (blob) {
                r = curve_hist_deserialize(blob, blob_size, &h);
                if (r < 0)
                        return r;
        }
        *ret = (CurveAgg){
                .users = users,
                .n = (uint64_t)n,
                .sum = sum,
                .sumsq = sumsq,
                .max = max,
                .hist = TAKE_PTR(h),
        };
        return 0;
}

void curve_agg_done(CurveAgg *a)
{
        if (!a)
                return;
        a->hist = curve_hist_free(a->hist);
        a->n = 0;
        a->sum = a->sumsq = 0;
}

void curve_point_stats(const CurveAgg *a, double *ret_mean, double *ret_stddev, double *ret_p95)
{
        double mean = NAN, sd = NAN, p95 = NAN;

        assert(a);
        if (a->n > 0) {
                double n = (double)a->n, var;

                mean = a->sum / n;
                var = a->sumsq / n - mean * mean;
                sd = var > 0 ? sqrt(var) : 0;
                p95 = curve_hist_quantile(a->hist, 0.95);
                if (p95 > a->max)
                        p95 = a->max;
        }
        if (ret_mean)
                *ret_mean = mean;
        if (ret_stddev)
                *ret_stddev = sd;
        if (ret_p95)
                *ret_p95 = p95;
}
