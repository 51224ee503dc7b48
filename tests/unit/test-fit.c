/* Unit tests of daemon/fit.c: fits worked out by hand, recovery of known per-stream costs, the 95%
 * intervals' coverage over many random seeds, level weighting, degenerate designs, the mix parser and
 * its fuzz corpus. */

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "daemon/fit.h"
#include "tests/fuzz/fuzz-fit-mix.h"
#include "util.h"

#define assert_double_equal(a, b, eps)                                                                       \
        do {                                                                                                 \
                double _a_ = (a), _b_ = (b), _e_ = (eps);                                                    \
                if (!(fabs(_a_ - _b_) <= _e_))                                                               \
                        fail_msg("%s = %.17g, expected %.17g +- %g", #a, _a_, _b_, _e_);                     \
        } while (0)

/* xorshift64* and Box-Muller: a reproducible normal noise per seed. */
static uint64_t rng_state;
static double uniform(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return ((double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void)
{
        return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

/* A level of n samples of mean + normal noise with the given spread. */
static FitLevel level(double x0, double x1, double x2, double users, double mean, double sd, uint64_t n)
{
        FitLevel l = { .x = { x0, x1, x2 }, .users = users };

        for (uint64_t i = 0; i < n; i++) {
                double v = mean + sd * normal();
                l.n++;
                l.sum += v;
                l.sumsq += v * v;
        }
        return l;
}

/* Level means 1, 3, 5, 7 at x = 0..3 (each 5 samples, all equal): y = 1 + 2x exactly. */
static void test_exact_line(void **state)
{
        FitLevel l[4];
        FitResult f;
        FitCapacity c;

        for (int i = 0; i < 4; i++)
                l[i] = level(i, 0, 0, i, 1 + 2 * i, 0, 5);
        fit_levels(l, 4, 1, &f);
        assert_true(f.valid);
        assert_int_equal(f.levels, 4);
        assert_int_equal(f.samples, 20);
        assert_int_equal(f.dof, 2);
        assert_double_equal(f.beta[0], 1, 1e-12);
        assert_double_equal(f.beta[1], 2, 1e-12);
        assert_double_equal(f.r2, 1, 1e-12);
        assert_double_equal(f.se[1], 0, 1e-9);
        assert_int_equal(f.quality, FIT_TOO_FEW_SAMPLES);
        fit_capacity(&f, (const double[]){ 1 }, 9, &c);
        assert_double_equal(c.users, 4, 1e-12);
        assert_double_equal(c.lo, 4, 1e-6);
        assert_double_equal(c.hi, 4, 1e-6);
        assert_true(c.extrapolated); /* 4 > 3, the largest level */
        fit_capacity(&f, (const double[]){ 1 }, 0.5, &c);
        assert_double_equal(c.users, 0, 0);
        assert_false(c.extrapolated);
}

/* A noise-free line whose level sums were added up in another order (hours, then days): rounding leaves
 * residuals of 1e-17 and the interval's discriminant a hair below 0. The capacity is then known to within
 * rounding, never "anywhere from 0 to infinity" (seen with the daily roll-up on the 30-day benchmark). */
static void test_exact_line_rounding(void **state)
{
        unsigned finite = 0, trials = 0;

        for (int k = 1; k <= 40; k++) {
                FitLevel l[50];
                FitResult f;
                FitCapacity c;
                double base = 0.00125 * k, slope = 0.0025 / k;

                for (int u = 0; u < 50; u++) {
                        double v = base + slope * u;

                        l[u] = (FitLevel){ .x = { u }, .users = u };
                        for (int d = 0; d < 30; d++) { /* days of hours of seconds */
                                double sum = 0, sumsq = 0;

                                for (int h = 0; h < 24; h++) {
                                        sum += 72 * v;
                                        sumsq += 72 * v * v;
                                }
                                l[u].n += 24 * 72;
                                l[u].sum += sum;
                                l[u].sumsq += sumsq;
                        }
                }
                fit_levels(l, 50, 1, &f);
                assert_true(f.valid);
                fit_capacity(&f, (const double[]){ 1 }, 0.8, &c);
                assert_double_equal(c.users, (0.8 - base) / slope, 1e-6 * c.users);
                trials++;
                if (isfinite(c.hi) && c.lo > 0)
                        finite++;
                assert_true(c.lo <= c.users * (1 + 1e-9) && c.hi >= c.users * (1 - 1e-9));
        }
        assert_int_equal(finite, trials);
}

/* By hand: level means (0,1) (1,2) (2,4) (3,5) -> slope 1.4, intercept 0.9, residuals
 * 0.1 -0.3 0.3 -0.1, SSE 0.2, s^2 = 0.1, Sxx = 5: se(slope) = sqrt(0.02), se(intercept) = sqrt(0.1 *
 * (1/4 + 1.5^2/5)) = sqrt(0.07). */
static void test_by_hand_errors(void **state)
{
        const double y[] = { 1, 2, 4, 5 };
        FitLevel l[4];
        FitResult f;
        double s, se;

        for (int i = 0; i < 4; i++)
                l[i] = level(i, 0, 0, i, y[i], 0, 10);
        fit_levels(l, 4, 1, &f);
        assert_double_equal(f.beta[1], 1.4, 1e-12);
        assert_double_equal(f.beta[0], 0.9, 1e-12);
        assert_double_equal(f.se[1], sqrt(0.02), 1e-12);
        assert_double_equal(f.se[0], sqrt(0.07), 1e-12);
        assert_double_equal(f.cov[0][1], -1.5 * 0.02, 1e-12);
        assert_double_equal(f.t95, 4.303, 0);
        assert_int_equal(f.quality, FIT_OK);
        fit_slope_along(&f, (const double[]){ 1 }, &s, &se);
        assert_double_equal(s, 1.4, 1e-12);
        assert_double_equal(se, sqrt(0.02), 1e-12);
}

/* A 10-hour idle period (36,000 samples) beside six 3-minute levels does not pull the fit: every
 * level counts once. The idle level is off the line by its own noise only. */
static void test_level_weighting(void **state)
{
        FitLevel l[7];
        FitResult f;

        rng_state = 42;
        l[0] = level(0, 0, 0, 0, 0.05, 0.02, 36000);
        for (int i = 1; i < 7; i++)
                l[i] = level(i * 5, 0, 0, i * 5, 0.05 + 0.01 * i * 5, 0.02, 180);
        fit_levels(l, 7, 1, &f);
        assert_int_equal(f.levels, 7);
        assert_double_equal(f.beta[1], 0.01, 0.0005);
        assert_double_equal(f.beta[0], 0.05, 0.005);
        /* The sample-level weight of the idle level would be 36000 / 37080; here it is 1 / 7. */
}

/* Levels with fewer than FIT_LEVEL_MIN_SAMPLES are left out; one level is no slope; two are a slope
 * without an interval. */
static void test_degenerate(void **state)
{
        FitLevel l[3];
        FitResult f;
        FitCapacity c;

        l[0] = level(0, 0, 0, 0, 1, 0, 10);
        l[1] = level(5, 0, 0, 5, 100, 0, 2); /* too short */
        fit_levels(l, 2, 1, &f);
        assert_false(f.valid);
        assert_int_equal(f.quality, FIT_NONE);
        assert_int_equal(f.levels, 1);
        assert_double_equal(f.beta[0], 1, 0);
        fit_capacity(&f, (const double[]){ 1 }, 2, &c);
        assert_true(isnan(c.users));

        l[2] = level(1, 0, 0, 1, 2, 0, 10);
        fit_levels(l, 3, 1, &f);
        assert_true(f.valid);
        assert_int_equal(f.quality, FIT_TOO_FEW_LEVELS);
        assert_true(isnan(f.se[1]));
        fit_capacity(&f, (const double[]){ 1 }, 3, &c);
        assert_double_equal(c.users, 2, 1e-12);
        assert_true(isnan(c.lo) && isnan(c.hi));

        fit_levels(NULL, 0, 3, &f);
        assert_int_equal(f.quality, FIT_NONE);

        /* Falling: no capacity. */
        l[0] = level(0, 0, 0, 0, 5, 0.1, 10);
        l[1] = level(1, 0, 0, 1, 4, 0.1, 10);
        l[2] = level(2, 0, 0, 2, 3, 0.1, 10);
        fit_levels(l, 3, 1, &f);
        fit_capacity(&f, (const double[]){ 1 }, 10, &c);
        assert_true(isnan(c.users));
}

/* A slope that noise could make zero: the upper end of the capacity is unbounded, not made up. */
static void test_uncertain_slope(void **state)
{
        FitLevel l[4];
        FitResult f;
        FitCapacity c;

        l[0] = level(0, 0, 0, 0, 1.0, 0, 10);
        l[1] = level(1, 0, 0, 1, 1.3, 0, 10);
        l[2] = level(2, 0, 0, 2, 0.9, 0, 10);
        l[3] = level(3, 0, 0, 3, 1.2, 0, 10);
        fit_levels(l, 4, 1, &f);
        assert_true(f.beta[1] > 0);
        fit_capacity(&f, (const double[]){ 1 }, 2, &c);
        assert_true(isfinite(c.users));
        assert_true(isinf(c.hi));
        assert_true(c.lo <= c.users);
}

/* The per-stream model: value = 0.05 + 0.002 listeners + 0.01 voice + 0.04 video, levels over a grid
 * of mixes, noise 0.02 per sample: each coefficient within 5%, and the capacity for a 70/25/5 mix
 * within its interval. */
static void model_levels(FitLevel *l, size_t *n, double noise, uint64_t per_level)
{
        size_t k = 0;

        for (int L = 0; L <= 60; L += 20)
                for (int V = 0; V <= 12; V += 4)
                        for (int C = 0; C <= 6; C += 3) {
                                double mean = 0.05 + 0.002 * L + 0.01 * V + 0.04 * C;
                                l[k++] = level(L, V, C, L + V, mean, noise, per_level);
                        }
        *n = k;
}

static void test_model_recovers_costs(void **state)
{
        FitLevel l[64];
        size_t n;
        FitResult f;
        FitCapacity c;
        const double mix[3] = { 0.7, 0.25, 0.05 }, truth[4] = { 0.05, 0.002, 0.01, 0.04 };
        double per_user = 0.7 * 0.002 + 0.25 * 0.01 + 0.05 * 0.04, cap = (0.8 - 0.05) / per_user;

        rng_state = 7;
        model_levels(l, &n, 0.02, 120);
        fit_levels(l, n, 3, &f);
        assert_int_equal(f.quality, FIT_OK);
        assert_int_equal(f.dof, n - 4);
        for (int i = 1; i < 4; i++) {
                assert_true(f.active[i]);
                if (fabs(f.beta[i] / truth[i] - 1) > 0.05)
                        fail_msg("coefficient %d = %g, truth %g", i, f.beta[i], truth[i]);
                assert_true(f.se[i] > 0 && f.se[i] < 0.05 * truth[i]);
        }
        fit_capacity(&f, mix, 0.8, &c);
        assert_true(c.lo <= cap && cap <= c.hi);
        assert_double_equal(c.users, cap, 0.05 * cap);
        /* The observed mix: listeners per participant (L / (L + V)), video per participant. */
        assert_true(f.mix[0] > 0.5 && f.mix[0] < 1);
}

/* Over 500 seeds, the 95% intervals cover the truth in at least 90% of them (and not in all: an
 * interval that always covers is too wide to be one). Per-participant curve and per-stream model. */
static void test_coverage(void **state)
{
        unsigned cover_cap = 0, cover_slope = 0, cover_model = 0, cover_coef = 0;
        const unsigned seeds = 500;

        for (unsigned seed = 1; seed <= seeds; seed++) {
                FitLevel l[64];
                FitResult f;
                FitCapacity c;
                size_t n;
                double s, se;
                const double mix[3] = { 0.7, 0.25, 0.05 };
                double per_user = 0.7 * 0.002 + 0.25 * 0.01 + 0.05 * 0.04;

                rng_state = seed * 0x9E3779B97F4A7C15ULL;
                /* Curve: 0.04 + 0.06 users, levels 0..8, 15 samples each, noise 0.01. Truth at 1.2. */
                for (int u = 0; u <= 8; u++)
                        l[u] = level(u, 0, 0, u, 0.04 + 0.06 * u, 0.01, 15);
                fit_levels(l, 9, 1, &f);
                fit_capacity(&f, (const double[]){ 1 }, 1.2, &c);
                cover_cap += c.lo <= 19.3333333 && 19.3333333 <= c.hi;
                fit_slope_along(&f, (const double[]){ 1 }, &s, &se);
                cover_slope += fabs(s - 0.06) <= f.t95 * se;

                model_levels(l, &n, 0.05, 20);
                fit_levels(l, n, 3, &f);
                fit_capacity(&f, mix, 0.8, &c);
                cover_model += c.lo <= (0.75 / per_user) && (0.75 / per_user) <= c.hi;
                cover_coef += fabs(f.beta[3] - 0.04) <= f.t95 * f.se[3];
        }
        print_message("coverage over %u seeds: capacity %u, slope %u, model capacity %u, video coefficient %u\n",
                      seeds, cover_cap, cover_slope, cover_model, cover_coef);
        assert_true(cover_cap >= seeds * 9 / 10 && cover_cap < seeds);
        assert_true(cover_slope >= seeds * 9 / 10 && cover_slope < seeds);
        assert_true(cover_model >= seeds * 9 / 10 && cover_model < seeds);
        assert_true(cover_coef >= seeds * 9 / 10 && cover_coef < seeds);
}

/* A regressor that never varies is left out; one that repeats another is left out too. */
static void test_inactive_regressors(void **state)
{
        FitLevel l[16];
        FitResult f;
        size_t k = 0;

        for (int L = 0; L < 4; L++)
                for (int V = 0; V < 4; V++)
                        l[k++] = level(L, V, 0, L + V, 1 + 0.1 * L + 0.3 * V, 0, 5);
        fit_levels(l, k, 3, &f);
        assert_true(f.active[0] && f.active[1] && f.active[2]);
        assert_false(f.active[3]);
        assert_true(isnan(f.beta[3]));
        assert_double_equal(f.beta[1], 0.1, 1e-9);
        assert_double_equal(f.beta[2], 0.3, 1e-9);
        assert_int_equal(f.dof, 16 - 3);

        /* video == voice at every level: one of the two goes. */
        k = 0;
        for (int L = 0; L < 4; L++)
                for (int V = 0; V < 4; V++)
                        l[k++] = level(L, V, V, L + V, 1 + 0.1 * L + 0.3 * V, 0, 5);
        fit_levels(l, k, 3, &f);
        assert_true(f.valid);
        assert_true(f.active[2] != f.active[3]);
        assert_double_equal(f.beta[f.active[2] ? 2 : 3], 0.3, 1e-9);
}

/* Working-set bytes: a 2 GiB base and 50 MiB per participant keep their digits. */
static void test_large_values(void **state)
{
        FitLevel l[10];
        FitResult f;

        rng_state = 3;
        for (int u = 0; u < 10; u++)
                l[u] = level(u * 10, 0, 0, u * 10, 2147483648.0 + 52428800.0 * u * 10, 1e6, 30);
        fit_levels(l, 10, 1, &f);
        assert_double_equal(f.beta[1], 52428800.0, 52428800.0 * 0.001);
        assert_double_equal(f.beta[0], 2147483648.0, 2e6);
}

static void test_t95(void **state)
{
        assert_true(isnan(fit_t95(0)));
        assert_double_equal(fit_t95(1), 12.706, 0);
        assert_double_equal(fit_t95(30), 2.042, 0);
        assert_double_equal(fit_t95(50), 2.009, 0.002); /* exact 2.0086 */
        assert_double_equal(fit_t95(100), 1.984, 0.002); /* exact 1.9840 */
        assert_double_equal(fit_t95(1000000), 1.960, 0.001);
}

static void test_mix_parse(void **state)
{
        double m[3];

        assert_int_equal(fit_mix_parse("0.7,0.25,0.05", 100, m), 0);
        assert_double_equal(m[0], 0.7, 0);
        assert_double_equal(m[1], 0.25, 0);
        assert_double_equal(m[2], 0.05, 0);
        assert_int_equal(fit_mix_parse("video:0.1,listeners:0.9", 100, m), 0);
        assert_double_equal(m[0], 0.9, 0);
        assert_double_equal(m[1], 0, 0);
        assert_double_equal(m[2], 0.1, 0);
        assert_int_equal(fit_mix_parse("l:1,v:1,c:1", 100, m), 0);
        /* Cut by size: "0.7,0.25,0.05" is read as "0.7,0.2". */
        assert_int_equal(fit_mix_parse("0.7,0.25,0.05", 7, m), -EINVAL);

        static const char *const bad[] = {
                "", ",", "0.7,0.25", "0.7,0.25,0.05,0", "-1,0,0", "1e3,0,0", "inf,0,0", "nan,0,0",
                "0,0,0", "listeners:1,listeners:2", "foo:1", "listeners:1,0.5", "0.7,,0.3", "101,0,0",
                "0x1,0,0", "1,2,", " 1,2,3", "voice:", ":1", ".,0,1",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (fit_mix_parse(bad[i], strlen(bad[i]), m) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(fit_mix_parse(NULL, 0, m), -EINVAL);
}

/* The fuzz corpus of fit_mix_parse(), replayed (FIT_MIX_CORPUS from meson). */
static void test_fuzz_corpus(void **state)
{
        const char *dir = getenv("FIT_MIX_CORPUS");
        DIR *d;
        struct dirent *de;
        unsigned n = 0;

        if (!dir)
                skip();
        d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d))) {
                _cleanup_close_ int fd = -EBADF;
                uint8_t buf[4096];
                ssize_t k;

                if (de->d_name[0] == '.')
                        continue;
                fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                k = read(fd, buf, sizeof(buf));
                assert_true(k >= 0);
                LLVMFuzzerTestOneInput(buf, (size_t)k);
                n++;
        }
        closedir(d);
        assert_true(n > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exact_line),
                cmocka_unit_test(test_exact_line_rounding),
                cmocka_unit_test(test_by_hand_errors),
                cmocka_unit_test(test_level_weighting),
                cmocka_unit_test(test_degenerate),
                cmocka_unit_test(test_uncertain_slope),
                cmocka_unit_test(test_model_recovers_costs),
                cmocka_unit_test(test_coverage),
                cmocka_unit_test(test_inactive_regressors),
                cmocka_unit_test(test_large_values),
                cmocka_unit_test(test_t95),
                cmocka_unit_test(test_mix_parse),
                cmocka_unit_test(test_fuzz_corpus),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
