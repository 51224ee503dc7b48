/* libFuzzer target: curve_hist_deserialize() reads blobs from the curves table, which anyone with write
 * access to the database file could have changed. Whatever the bytes, it must refuse or return a
 * histogram that behaves: its serialised form is a fixed point, its quantiles are ordered, and merging
 * it doubles its count. The same entry replays the corpus in the unit suite (test-curve.c). */

#include <math.h>

#include "daemon/curve.h"
#include "fuzz-curve-hist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(curve_hist_freep) CurveHist *h = NULL, *h2 = NULL;
        _cleanup_free_ uint8_t *buf = NULL, *buf2 = NULL;
        size_t n = 0, n2 = 0;
        double q50, q95;
        uint64_t count;
        int r;

        r = curve_hist_deserialize(data, size, &h);
        if (r < 0) {
                assert(!h);
                assert(r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM);
                return 0;
        }

        count = curve_hist_count(h);
        q50 = curve_hist_quantile(h, 0.5);
        q95 = curve_hist_quantile(h, 0.95);
        if (count == 0)
                assert(isnan(q50) && isnan(q95));
        else
                assert(q50 >= 0 && q50 <= q95 && isfinite(q95));

        /* Serialise, parse again, serialise again: the same bytes and the same count. */
        r = curve_hist_serialize(h, &buf, &n);
        if (r == -ENOMEM)
                return 0;
        assert(r == 0 && n <= CURVE_HIST_SERIALIZED_MAX);
        r = curve_hist_deserialize(buf, n, &h2);
        if (r == -ENOMEM)
                return 0;
        assert(r == 0);
        assert(curve_hist_count(h2) == count);
        r = curve_hist_serialize(h2, &buf2, &n2);
        if (r == -ENOMEM)
                return 0;
        assert(r == 0 && n2 == n && memcmp(buf, buf2, n) == 0);

        r = curve_hist_merge(h2, h);
        if (count > UINT64_MAX / 2)
                assert(r == -EOVERFLOW || r == 0);
        else if (r == 0)
                assert(curve_hist_count(h2) == 2 * count);
        return 0;
}
