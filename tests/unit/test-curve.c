/* Unit tests of daemon/curve.c: the fit against sums worked out by hand, quantiles of known
 * distributions, the histogram's wire form against damaged input, and the fuzz corpus replayed. */

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "daemon/curve.h"
#include "tests/fuzz/fuzz-curve-hist.h"
#include "util.h"

/* cmocka 1.1 compares floats only in single precision. */
#define assert_double_equal(a, b, eps)                                                                       \
        do {                                                                                                 \
                double _a_ = (a), _b_ = (b), _e_ = (eps);                                                    \
                if (!(fabs(_a_ - _b_) <= _e_))                                                               \
                        fail_msg("%s = %.17g, expected %.17g +- %g", #a, _a_, _b_, _e_);                     \
        } while (0)

#define CORPUS_FILE_MAX (1024 * 1024)

/* Builds the aggregate of the given values at one participant count. */
static void agg_of(CurveAgg *a, int64_t users, const double *v, size_t n)
{
        *a = (CurveAgg){ .users = users };
        assert_int_equal(curve_hist_new(&a->hist), 0);
        for (size_t i = 0; i < n; i++) {
                a->max = a->n == 0 ? v[i] : MAX(a->max, v[i]);
                a->n++;
                a->sum += v[i];
                a->sumsq += v[i] * v[i];
                curve_hist_add(a->hist, v[i]);
        }
}

/* Points (1,2) (1,4) (2,5) (3,7) (3,9). By hand: mean x = 2, mean y = 5.4, Sxx = 4, Sxy = 10,
 * Syy = 29.2; slope = 10/4 = 2.5, intercept = 5.4 - 2.5*2 = 0.4, R^2 = 10^2/(4*29.2) = 0.85616438. */
static void test_fit_by_hand(void **state)
{
        CurveAgg a[3];
        CurveFit f;

        agg_of(&a[0], 1, (const double[]){ 2, 4 }, 2);
        agg_of(&a[1], 2, (const double[]){ 5 }, 1);
        agg_of(&a[2], 3, (const double[]){ 7, 9 }, 2);

        curve_fit(a, 3, &f);
        assert_true(f.valid);
        assert_int_equal(f.n, 5);
        assert_double_equal(f.slope, 2.5, 1e-12);
        assert_double_equal(f.intercept, 0.4, 1e-12);
        assert_double_equal(f.r2, 100.0 / 116.8, 1e-12);
        /* 10 = 0.4 + 2.5 x  ->  x = 3.84 */
        assert_double_equal(curve_capacity(&f, 10), 3.84, 1e-12);
        /* Already above at zero participants. */
        assert_double_equal(curve_capacity(&f, 0.1), 0, 0);

        /* The order of the aggregates does not matter. */
        {
                CurveAgg b[3] = { a[2], a[0], a[1] };
                CurveFit g;
                curve_fit(b, 3, &g);
                assert_double_equal(g.slope, f.slope, 1e-12);
                assert_double_equal(g.r2, f.r2, 1e-12);
        }
        for (int i = 0; i < 3; i++)
                curve_agg_done(&a[i]);
}

/* cpu_ratio = 0.1 + 0.05 * users exactly: R^2 = 1 and 0.8 is reached at 14 participants. */
static void test_fit_exact_line(void **state)
{
        CurveAgg a[11];
        CurveFit f;

        for (int u = 0; u <= 10; u++) {
                double v = 0.1 + 0.05 * u;
                agg_of(&a[u], u, (const double[]){ v, v, v }, 3);
        }
        curve_fit(a, 11, &f);
        assert_true(f.valid);
        assert_double_equal(f.slope, 0.05, 1e-12);
        assert_double_equal(f.intercept, 0.1, 1e-12);
        assert_double_equal(f.r2, 1.0, 1e-9);
        assert_double_equal(curve_capacity(&f, 0.8), 14.0, 1e-9);
        for (int u = 0; u <= 10; u++)
                curve_agg_done(&a[u]);
}

/* Working-set bytes of a few GB: squares near 1e19 per sample. x = 1,1,2,2,3,3 and y = 2e9 + 5e7 x +- 1e6.
 * By hand: Sxx = 4, Sxy = 2e8, Syy = 2 (2.5e15 + 1e12) * 2 + 2e12 = 1.0006e16; slope 5e7,
 * intercept 2e9, R^2 = 4e16 / (4 * 1.0006e16). */
static void test_fit_large_values(void **state)
{
        CurveAgg a[3];
        CurveFit f;

        for (int u = 1; u <= 3; u++) {
                double base = 2e9 + 5e7 * u;
                agg_of(&a[u - 1], u, (const double[]){ base - 1e6, base + 1e6 }, 2);
        }
        curve_fit(a, 3, &f);
        assert_true(f.valid);
        assert_double_equal(f.slope, 5e7, 1e-3);
        assert_double_equal(f.intercept, 2e9, 1e-2);
        assert_double_equal(f.r2, 4e16 / (4 * 1.0006e16), 1e-9);
        /* The memory limit of 4 GiB is reached at (4294967296 - 2e9) / 5e7 participants. */
        assert_double_equal(curve_capacity(&f, 4294967296.0), (4294967296.0 - 2e9) / 5e7, 1e-9);
        for (int i = 0; i < 3; i++)
                curve_agg_done(&a[i]);
}

static void test_fit_degenerate(void **state)
{
        CurveAgg a[2];
        CurveFit f;

        /* Nothing. */
        curve_fit(NULL, 0, &f);
        assert_false(f.valid);
        assert_int_equal(f.n, 0);
        assert_double_equal(curve_capacity(&f, 0.8), -1, 0);

        /* One participant count: no slope, the level is the mean. */
        agg_of(&a[0], 4, (const double[]){ 1, 3 }, 2);
        curve_fit(a, 1, &f);
        assert_false(f.valid);
        assert_double_equal(f.intercept, 2, 1e-12);
        assert_double_equal(curve_capacity(&f, 10), -1, 0);

        /* Falling: never reaches the threshold. */
        agg_of(&a[1], 8, (const double[]){ 0.5 }, 1);
        curve_fit(a, 2, &f);
        assert_true(f.valid);
        assert_true(f.slope < 0);
        assert_double_equal(curve_capacity(&f, 10), -1, 0);

        /* Flat and constant: R^2 taken as 1 (nothing left to explain), slope 0, no capacity. */
        curve_agg_done(&a[0]);
        curve_agg_done(&a[1]);
        agg_of(&a[0], 1, (const double[]){ 2, 2 }, 2);
        agg_of(&a[1], 2, (const double[]){ 2 }, 1);
        curve_fit(a, 2, &f);
        assert_true(f.valid);
        assert_double_equal(f.slope, 0, 1e-12);
        assert_double_equal(f.r2, 1, 0);
        assert_double_equal(curve_capacity(&f, 3), -1, 0);
        curve_agg_done(&a[0]);
        curve_agg_done(&a[1]);
}

static void check_p95(CurveHist *h, double expect)
{
        double q = curve_hist_quantile(h, 0.95);
        assert_true(fabs(q - expect) <= 0.02 * expect);
        /* The bucket width promises far better than 2%. */
        assert_true(fabs(q - expect) <= 0.007 * expect + 1e-12);
}

static void test_quantiles(void **state)
{
        _cleanup_(curve_hist_freep) CurveHist *u = NULL, *e = NULL, *g = NULL, *z = NULL;
        uint64_t x = 88172645463325252ULL;
        const int N = 200000;

        /* Uniform 1..10000: p95 = 9500, p50 = 5000. */
        assert_int_equal(curve_hist_new(&u), 0);
        for (int i = 1; i <= 10000; i++)
                curve_hist_add(u, i);
        check_p95(u, 9500);
        assert_double_equal(curve_hist_quantile(u, 0.5), 5000, 5000 * 0.006);
        assert_double_equal(curve_hist_quantile(u, 1), 10000, 10000 * 0.006);
        assert_double_equal(curve_hist_quantile(u, 0), 1, 0.006);

        /* Exponential of mean 1 by its inverse CDF at evenly spaced probabilities: p95 = ln 20. */
        assert_int_equal(curve_hist_new(&e), 0);
        for (int i = 0; i < N; i++)
                curve_hist_add(e, -log(1 - (i + 0.5) / N));
        check_p95(e, log(20));

        /* Normal(10, 2) by Box-Muller over a fixed xorshift sequence: p95 = 10 + 1.6449 * 2. */
        assert_int_equal(curve_hist_new(&g), 0);
        for (int i = 0; i < N; i++) {
                double u1, u2;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                u1 = ((x >> 11) + 0.5) / 9007199254740992.0;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                u2 = ((x >> 11) + 0.5) / 9007199254740992.0;
                curve_hist_add(g, 10 + 2 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
        }
        assert_true(fabs(curve_hist_quantile(g, 0.95) - 13.2897) <= 0.02 * 13.2897);

        /* Zero bucket: zeros, negatives and tiny values answer 0; NaN is not counted. */
        assert_int_equal(curve_hist_new(&z), 0);
        assert_true(isnan(curve_hist_quantile(z, 0.95)));
        curve_hist_add(z, 0);
        curve_hist_add(z, -3);
        curve_hist_add(z, 1e-12);
        curve_hist_add(z, NAN);
        curve_hist_add(z, 1e30);
        assert_int_equal(curve_hist_count(z), 4);
        assert_double_equal(curve_hist_quantile(z, 0.5), 0, 0);
        assert_double_equal(curve_hist_quantile(z, 0.75), 0, 0);
        /* 1e30 is beyond 2^64: it lands in the top bucket. */
        assert_true(curve_hist_quantile(z, 1) >= 1.8e19);
}

static void test_serialize_roundtrip_and_merge(void **state)
{
        _cleanup_(curve_hist_freep) CurveHist *h = NULL, *back = NULL, *m = NULL;
        _cleanup_free_ uint8_t *buf = NULL, *buf2 = NULL;
        size_t n, n2;

        assert_int_equal(curve_hist_new(&h), 0);
        /* Spread over the whole range, including the far ends and the zero bucket. */
        curve_hist_add(h, 0);
        curve_hist_add(h, 3e-10);
        curve_hist_add(h, 0.25);
        curve_hist_add(h, 0.25);
        curve_hist_add(h, 7.5e9);
        curve_hist_add(h, 1e25);

        assert_int_equal(curve_hist_serialize(h, &buf, &n), 0);
        assert_int_equal(buf[0], CURVE_HIST_VERSION);
        assert_int_equal(curve_hist_deserialize(buf, n, &back), 0);
        assert_int_equal(curve_hist_count(back), 6);
        for (double q = 0; q <= 1; q += 0.05)
                assert_double_equal(curve_hist_quantile(back, q), curve_hist_quantile(h, q), 0);
        assert_int_equal(curve_hist_serialize(back, &buf2, &n2), 0);
        assert_int_equal(n2, n);
        assert_memory_equal(buf, buf2, n);

        /* Merge into an empty one and into itself. */
        assert_int_equal(curve_hist_new(&m), 0);
        assert_int_equal(curve_hist_merge(m, h), 0);
        assert_int_equal(curve_hist_merge(m, back), 0);
        assert_int_equal(curve_hist_count(m), 12);
        assert_double_equal(curve_hist_quantile(m, 0.5), curve_hist_quantile(h, 0.5), 0);
        assert_int_equal(curve_hist_merge(m, NULL), 0);
        assert_int_equal(curve_hist_count(m), 12);
}

static void test_deserialize_garbage(void **state)
{
        CurveHist *h = NULL;
        uint8_t big[CURVE_HIST_SERIALIZED_MAX + 1] = { 1 };
        uint64_t x = 1;

        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1 }, 0, &h), -EBADMSG);
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 2, 0, 0 }, 3, &h), -EBADMSG);
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1, 0 }, 2, &h), -EBADMSG);
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1, 0, 1, 0xff }, 4, &h), -EBADMSG);
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1, 0, 0, 0 }, 4, &h), -EBADMSG);
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1, 0, 1, 0, 0 }, 5, &h), -EBADMSG);
        /* bucket 8191 (zigzag 16382): beyond 2^64 */
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1, 0, 1, 0xfe, 0x7f, 1 }, 6, &h), -EBADMSG);
        /* the second bucket not after the first is impossible by construction; too large a gap is not */
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1, 0, 2, 0, 1, 0xff, 0x7f, 1 }, 8, &h),
                         -EBADMSG);
        /* an 11-byte varint */
        assert_int_equal(curve_hist_deserialize((const uint8_t[]){ 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                                   0xff, 0xff, 0xff, 0x01, 0 },
                                                13, &h),
                         -EBADMSG);
        assert_int_equal(curve_hist_deserialize(big, sizeof(big), &h), -EMSGSIZE);
        assert_null(h);

        /* Random bytes after a valid version byte: never a crash, and what parses behaves. */
        for (int i = 0; i < 200000; i++) {
                uint8_t buf[24];
                size_t n = 1 + (size_t)(i % 23);

                buf[0] = 1;
                for (size_t j = 1; j < n; j++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        /* Mostly small bytes, so that some inputs parse. */
                        buf[j] = (uint8_t)((x & 0x300) ? (x & 7) : (x >> 24));
                }
                (void)LLVMFuzzerTestOneInput(buf, n);
        }
}

static void test_agg_row_and_stats(void **state)
{
        _cleanup_(curve_hist_freep) CurveHist *h = NULL;
        _cleanup_free_ uint8_t *blob = NULL;
        CurveAgg a;
        double mean, sd, p95;
        size_t n;

        assert_int_equal(curve_hist_new(&h), 0);
        for (int i = 1; i <= 100; i++)
                curve_hist_add(h, i);
        assert_int_equal(curve_hist_serialize(h, &blob, &n), 0);

        /* 1..100: sum 5050, sumsq 338350, mean 50.5, population sd sqrt(833.25). */
        assert_int_equal(curve_agg_from_row(7, 100, 5050, 338350, 100, blob, n, &a), 0);
        assert_int_equal(a.users, 7);
        curve_point_stats(&a, &mean, &sd, &p95);
        assert_double_equal(mean, 50.5, 1e-12);
        assert_double_equal(sd, sqrt(833.25), 1e-9);
        assert_double_equal(p95, 95, 95 * 0.007);
        curve_agg_done(&a);

        /* The p95 never exceeds max, even where the bucket centre does. */
        assert_int_equal(curve_agg_from_row(1, 100, 5050, 338350, 94.9, blob, n, &a), 0);
        curve_point_stats(&a, NULL, NULL, &p95);
        assert_double_equal(p95, 94.9, 0);
        curve_agg_done(&a);

        /* No histogram: p95 unknown, the rest known. */
        assert_int_equal(curve_agg_from_row(1, 2, 3, 5, 2, NULL, 0, &a), 0);
        curve_point_stats(&a, &mean, NULL, &p95);
        assert_double_equal(mean, 1.5, 0);
        assert_true(isnan(p95));
        curve_agg_done(&a);

        /* Damage. */
        assert_int_equal(curve_agg_from_row(1, 2, 3, 5, 2, (const uint8_t[]){ 9 }, 1, &a), -EBADMSG);
        assert_int_equal(curve_agg_from_row(-1, 2, 3, 5, 2, NULL, 0, &a), -EBADMSG);
        assert_int_equal(curve_agg_from_row(1, 0, 3, 5, 2, NULL, 0, &a), -EBADMSG);
        assert_int_equal(curve_agg_from_row(1, 2, NAN, 5, 2, NULL, 0, &a), -EBADMSG);

        /* Empty aggregate: everything unknown. */
        a = (CurveAgg){ .users = 3 };
        curve_point_stats(&a, &mean, &sd, &p95);
        assert_true(isnan(mean) && isnan(sd) && isnan(p95));
}

static void test_metric_names(void **state)
{
        CurveMetric m;

        for (unsigned i = 0; i < _CURVE_METRIC_MAX; i++) {
                assert_non_null(curve_metric_to_string((CurveMetric)i));
                assert_int_equal(curve_metric_from_string(curve_metric_to_string((CurveMetric)i), &m), 0);
                assert_int_equal(m, i);
        }
        assert_string_equal(curve_metric_to_string(CURVE_WORKING_SET), "working_set_bytes");
        assert_null(curve_metric_to_string(_CURVE_METRIC_MAX));
        assert_int_equal(curve_metric_from_string("cpu", &m), -EINVAL);
        assert_int_equal(curve_metric_from_string(NULL, &m), -EINVAL);
}

/* Every file of the fuzz corpus, through the fuzz entry (its asserts are the checks). */
static void test_corpus(void **state)
{
        const char *dir = getenv("CURVE_HIST_CORPUS");
        _cleanup_close_ int dfd = -EBADF;
        DIR *d;
        struct dirent *de;
        unsigned n = 0;

        if (!dir)
                skip();
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        d = fdopendir(dfd);
        assert_non_null(d);
        dfd = -EBADF;
        while ((de = readdir(d))) {
                _cleanup_free_ char *buf = NULL;
                size_t size;

                if (de->d_name[0] == '.')
                        continue;
                assert_int_equal(read_full_file_at(dirfd(d), de->d_name, CORPUS_FILE_MAX, &buf, &size), 0);
                (void)LLVMFuzzerTestOneInput((const uint8_t *)buf, size);
                n++;
        }
        closedir(d);
        assert_true(n >= 10);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fit_by_hand),
                cmocka_unit_test(test_fit_exact_line),
                cmocka_unit_test(test_fit_large_values),
                cmocka_unit_test(test_fit_degenerate),
                cmocka_unit_test(test_quantiles),
                cmocka_unit_test(test_serialize_roundtrip_and_merge),
                cmocka_unit_test(test_deserialize_garbage),
                cmocka_unit_test(test_agg_row_and_stats),
                cmocka_unit_test(test_metric_names),
                cmocka_unit_test(test_corpus),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
