/* Least squares over participant levels, intervals and capacities. See fit.h and docs/curves.md. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"

#define K_MAX (FIT_PARAMS_MAX - 1)

static const char *const quality_names[] = {
        [FIT_OK] = "ok",
        [FIT_TOO_FEW_SAMPLES] = "too_few_samples",
        [FIT_TOO_FEW_LEVELS] = "too_few_levels",
        [FIT_NONE] = "none",
};

const char *fit_quality_to_string(FitQuality q)
{
        if ((unsigned)q >= ELEMENTSOF(quality_names))
                return NULL;
        return quality_names[q];
}

double fit_t95(unsigned dof)
{
        /* t(0.975) for 1..30 degrees of freedom; beyond, linear in 1/dof through 40, 60, 120 and the
         * normal 1.960, which is within 0.001 of the exact quantile. */
        static const double small[] = {
                12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        };
        static const struct {
                double dof, t;
        } big[] = { { 30, 2.042 }, { 40, 2.021 }, { 60, 2.000 }, { 120, 1.980 }, { INFINITY, 1.960 } };

        if (dof == 0)
                return NAN;
        if (dof <= ELEMENTSOF(small))
                return small[dof - 1];
        for (size_t i = 1; i < ELEMENTSOF(big); i++)
                if ((double)dof <= big[i].dof) {
                        double a = 1.0 / big[i - 1].dof, b = isinf(big[i].dof) ? 0 : 1.0 / big[i].dof;
                        double f = (a - 1.0 / (double)dof) / (a - b);
                        return big[i - 1].t + f * (big[i].t - big[i - 1].t);
                }
        return 1.960;
}

static bool level_usable(const FitLevel *l, unsigned k)
{
        if (l->n < FIT_LEVEL_MIN_SAMPLES || !isfinite(l->sum))
                return false;
        for (unsigned j = 0; j < k; j++)
                if (!isfinite(l->x[j]))
                        return false;
        return true;
}

/* Inverts the m x m symmetric matrix a in place (Gauss-Jordan with partial pivoting). Returns the index
 * of a column that is (nearly) a combination of the others, or -1 on success. scale[i] is the original
 * diagonal, against which a pivot counts as zero. */
static int invert(double a[K_MAX][K_MAX], unsigned m, const double *scale)
{
        double inv[K_MAX][K_MAX] = { { 0 } };
        unsigned perm[K_MAX];

        for (unsigned i = 0; i < m; i++) {
                inv[i][i] = 1;
                perm[i] = i;
        }
        for (unsigned c = 0; c < m; c++) {
                unsigned p = c;
                double piv;

                for (unsigned r = c + 1; r < m; r++)
                        if (fabs(a[r][c]) > fabs(a[p][c]))
                                p = r;
                if (!(fabs(a[p][c]) > 1e-9 * scale[c]))
                        return (int)c;
                if (p != c) {
                        for (unsigned j = 0; j < m; j++) {
                                double t = a[c][j];
                                a[c][j] = a[p][j];
                                a[p][j] = t;
                                t = inv[c][j];
                                inv[c][j] = inv[p][j];
                                inv[p][j] = t;
                        }
                        unsigned t = perm[c];
                        perm[c] = perm[p];
                        perm[p] = t;
                }
                piv = a[c][c];
                for (unsigned j = 0; j < m; j++) {
                        a[c][j] /= piv;
                        inv[c][j] /= piv;
                }
                for (unsigned r = 0; r < m; r++) {
                        double f;

                        if (r == c)
                                continue;
                        f = a[r][c];
                        for (unsigned j = 0; j < m; j++) {
                                a[r][j] -= f * a[c][j];
                                inv[r][j] -= f * inv[c][j];
                        }
                }
        }
        memcpy(a, inv, sizeof(inv));
        return -1;
}

void fit_levels(const FitLevel *levels, size_t n_levels, unsigned k, FitResult *ret)
{
        double xm[K_MAX] = { 0 }, ym = 0, S[K_MAX][K_MAX] = { { 0 } }, Sy[K_MAX] = { 0 }, Syy = 0;
        double mix_num[K_MAX] = { 0 }, mix_den = 0, sse = 0;
        unsigned idx[K_MAX], m;
        size_t K = 0;
        FitResult f;

        assert(ret);
        assert(levels || n_levels == 0);
        assert(k >= 1 && k <= K_MAX);

        f = (FitResult){ .k = k, .r2 = NAN, .sigma = NAN, .t95 = NAN, .users_max = NAN, .quality = FIT_NONE };
        for (unsigned i = 0; i < FIT_PARAMS_MAX; i++) {
                f.beta[i] = f.se[i] = NAN;
                for (unsigned j = 0; j < FIT_PARAMS_MAX; j++)
                        f.cov[i][j] = NAN;
        }
        for (unsigned j = 0; j < K_MAX; j++)
                f.x_max[j] = f.mix[j] = NAN;

        /* Means, over the levels (each counted once). */
        for (size_t i = 0; i < n_levels; i++) {
                const FitLevel *l = &levels[i];

                if (!level_usable(l, k))
                        continue;
                K++;
                f.samples += l->n;
                ym += l->sum / (double)l->n;
                for (unsigned j = 0; j < k; j++) {
                        xm[j] += l->x[j];
                        f.x_max[j] = isnan(f.x_max[j]) ? l->x[j] : MAX(f.x_max[j], l->x[j]);
                }
                if (isfinite(l->users)) {
                        f.users_max = isnan(f.users_max) ? l->users : MAX(f.users_max, l->users);
                        mix_den += (double)l->n * l->users;
                        for (unsigned j = 0; j < k; j++)
                                mix_num[j] += (double)l->n * l->x[j];
                }
        }
        f.levels = K;
        if (mix_den > 0)
                for (unsigned j = 0; j < k; j++)
                        f.mix[j] = mix_num[j] / mix_den;
        if (K == 0) {
                *ret = f;
                return;
        }
        ym /= (double)K;
        for (unsigned j = 0; j < k; j++)
                xm[j] /= (double)K;

        /* Centred cross products: working-set bytes squared reach 1e20, raw sums would cancel. */
        for (size_t i = 0; i < n_levels; i++) {
                const FitLevel *l = &levels[i];
                double dy;

                if (!level_usable(l, k))
                        continue;
                dy = l->sum / (double)l->n - ym;
                Syy += dy * dy;
                for (unsigned a = 0; a < k; a++) {
                        double da = l->x[a] - xm[a];

                        Sy[a] += da * dy;
                        for (unsigned b = 0; b < k; b++)
                                S[a][b] += da * (l->x[b] - xm[b]);
                }
        }

        /* The regressors that vary; drop any that the others already determine, and solve. */
        bool use[K_MAX] = { false };
        for (unsigned j = 0; j < k; j++)
                use[j] = S[j][j] > 0;
        for (;;) {
                double a[K_MAX][K_MAX], scale[K_MAX];
                int bad;

                m = 0;
                for (unsigned j = 0; j < k; j++)
                        if (use[j])
                                idx[m++] = j;
                if (m == 0)
                        break;
                for (unsigned r = 0; r < m; r++) {
                        scale[r] = S[idx[r]][idx[r]];
                        for (unsigned c = 0; c < m; c++)
                                a[r][c] = S[idx[r]][idx[c]];
                }
                bad = invert(a, m, scale);
                if (bad >= 0) {
                        use[idx[bad]] = false;
                        continue;
                }

                f.active[0] = true;
                f.beta[0] = ym;
                for (unsigned r = 0; r < m; r++) {
                        double b = 0;

                        for (unsigned c = 0; c < m; c++)
                                b += a[r][c] * Sy[idx[c]];
                        f.beta[1 + idx[r]] = b;
                        f.active[1 + idx[r]] = true;
                        f.beta[0] -= b * xm[idx[r]];
                }

                for (size_t i = 0; i < n_levels; i++) {
                        const FitLevel *l = &levels[i];
                        double res;

                        if (!level_usable(l, k))
                                continue;
                        res = l->sum / (double)l->n - f.beta[0];
                        for (unsigned r = 0; r < m; r++)
                                res -= f.beta[1 + idx[r]] * l->x[idx[r]];
                        sse += res * res;
                }
                f.r2 = Syy > 0 ? MAX(0.0, 1 - sse / Syy) : 1.0;
                f.valid = true;

                if (K > (size_t)m + 1) {
                        double s2, v0;

                        f.dof = (unsigned)MIN(K - m - 1, (size_t)UINT32_MAX);
                        s2 = sse / (double)f.dof;
                        f.sigma = sqrt(s2);
                        f.t95 = fit_t95(f.dof);
                        /* Slopes: s2 * S^-1. Intercept = ym - xm.b, with ym independent of b. */
                        v0 = s2 / (double)K;
                        for (unsigned r = 0; r < m; r++) {
                                double cr = 0;

                                for (unsigned c = 0; c < m; c++) {
                                        f.cov[1 + idx[r]][1 + idx[c]] = s2 * a[r][c];
                                        cr += s2 * a[r][c] * xm[idx[c]];
                                        v0 += xm[idx[r]] * s2 * a[r][c] * xm[idx[c]];
                                }
                                f.cov[0][1 + idx[r]] = f.cov[1 + idx[r]][0] = -cr;
                        }
                        f.cov[0][0] = v0;
                        for (unsigned i = 0; i < FIT_PARAMS_MAX; i++)
                                if (f.active[i])
                                        f.se[i] = sqrt(MAX(0.0, f.cov[i][i]));
                        f.quality = f.samples < FIT_SAMPLES_MIN ? FIT_TOO_FEW_SAMPLES : FIT_OK;
                } else
                        f.quality = FIT_TOO_FEW_LEVELS;
                break;
        }
        if (!f.valid)
                /* Nothing varies: the level is known, no slope. */
                f.beta[0] = ym;
        *ret = f;
}

/* per_user . beta over the active regressors, its variance and its covariance with the intercept. */
static void along(const FitResult *fit, const double *per_user, double *ret_s, double *ret_var, double *ret_cov0)
{
        double s = 0, var = 0, cov0 = 0;

        for (unsigned i = 1; i <= fit->k; i++) {
                if (!fit->active[i])
                        continue;
                s += per_user[i - 1] * fit->beta[i];
                cov0 += per_user[i - 1] * fit->cov[0][i];
                for (unsigned j = 1; j <= fit->k; j++)
                        if (fit->active[j])
                                var += per_user[i - 1] * per_user[j - 1] * fit->cov[i][j];
        }
        *ret_s = s;
        *ret_var = var;
        *ret_cov0 = cov0;
}

void fit_slope_along(const FitResult *fit, const double *per_user, double *ret_slope, double *ret_se)
{
        double s = NAN, var = NAN, cov0;

        assert(fit);
        assert(per_user);
        if (fit->valid)
                along(fit, per_user, &s, &var, &cov0);
        if (ret_slope)
                *ret_slope = s;
        if (ret_se)
                *ret_se = fit->valid && fit->dof > 0 && isfinite(var) ? sqrt(MAX(0.0, var)) : NAN;
}

void fit_capacity(const FitResult *fit, const double *per_user, double threshold, FitCapacity *ret)
{
        FitCapacity c = { .users = NAN, .lo = NAN, .hi = NAN };
        double s, vs, c0, u, t, a, b, cc, disc, r1, r2;

        assert(fit);
        assert(per_user);
        assert(ret);

        if (!fit->valid || !isfinite(threshold)) {
                *ret = c;
                return;
        }
        along(fit, per_user, &s, &vs, &c0);
        u = threshold - fit->beta[0];
        if (s > 0 && isfinite(u / s))
                c.users = MAX(0.0, u / s);
        c.extrapolated = isfinite(c.users) && isfinite(fit->users_max) && c.users > fit->users_max;

        if (fit->dof == 0 || !isfinite(vs) || !isfinite(fit->cov[0][0])) {
                *ret = c;
                return;
        }

        /* Fieller: the users N for which threshold - beta0 - N*s is within t standard errors of 0,
         * i.e. a N^2 - 2 b N + cc <= 0. */
        t = fit->t95;
        a = s * s - t * t * vs;
        b = u * s + t * t * c0;
        cc = u * u - t * t * fit->cov[0][0];
        disc = b * b - a * cc;
        /* A fit without residuals (a noise-free line) makes disc 0, which rounding of sums added in
         * another order (days of hours) can leave a hair below: that is 0, a point interval, not no
         * interval at all. */
        if (disc < 0 && -disc <= 1e-9 * MAX(b * b, fabs(a * cc)))
                disc = 0;
        if (a > 0 && disc >= 0) {
                c.lo = MAX(0.0, (b - sqrt(disc)) / a);
                c.hi = MAX(0.0, (b + sqrt(disc)) / a);
        } else if (a <= 0 && disc >= 0 && a != 0) {
                /* The slope is not surely positive: the set is unbounded above. */
                r1 = (b + sqrt(disc)) / a;
                r2 = (b - sqrt(disc)) / a;
                c.lo = isfinite(c.users) && c.users >= MAX(r1, r2) ? MAX(0.0, MIN(MAX(r1, r2), c.users)) : 0;
                c.hi = INFINITY;
        } else {
                c.lo = 0;
                c.hi = INFINITY;
        }
        *ret = c;
}

int fit_mix_parse(const char *s, size_t size, double ret[static FIT_PARAMS_MAX - 1])
{
        static const char *const names[K_MAX][2] = { { "listeners", "l" }, { "voice", "v" }, { "video", "c" } };
        char buf[FIT_MIX_TEXT_MAX + 1], *p, *save = NULL, *item;
        double v[K_MAX] = { 0 };
        bool seen[K_MAX] = { false }, named = false, positional = false, any = false;
        unsigned n = 0;

        assert(ret);
        if (!s)
                return -EINVAL;
        size = strnlen(s, size);
        if (size == 0 || size > FIT_MIX_TEXT_MAX)
                return -EINVAL;
        memcpy(buf, s, size);
        buf[size] = 0;
        if (buf[size - 1] == ',' || buf[0] == ',' || strstr(buf, ",,"))
                return -EINVAL;

        for (p = buf; (item = strtok_r(p, ",", &save)); p = NULL) {
                char *colon = strchr(item, ':'), *num = item, *end = NULL;
                unsigned j = n;
                double d;

                if (colon) {
                        *colon = 0;
                        num = colon + 1;
                        named = true;
                        for (j = 0; j < K_MAX; j++)
                                if (streq(item, names[j][0]) || streq(item, names[j][1]))
                                        break;
                        if (j == K_MAX)
                                return -EINVAL;
                } else
                        positional = true;
                if (named && positional)
                        return -EINVAL;
                if (j >= K_MAX || seen[j])
                        return -EINVAL;
                /* Digits and a point only: no signs, exponents, hex, inf or nan. */
                if (!*num || num[strspn(num, "0123456789.")] != 0)
                        return -EINVAL;
                errno = 0;
                d = strtod(num, &end);
                if (errno != 0 || end == num || *end || !isfinite(d) || d < 0 || d > FIT_MIX_MAX)
                        return -EINVAL;
                v[j] = d;
                seen[j] = true;
                any = any || d > 0;
                n++;
        }
        if ((positional && n != K_MAX) || !any)
                return -EINVAL;
        memcpy(ret, v, sizeof(v));
        return 0;
}
