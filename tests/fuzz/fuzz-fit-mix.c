/* libFuzzer target: fit_mix_parse() reads the mix= argument of /api/v1/model and /api/v1/report, which
 * any HTTP client sends. Whatever the bytes (not NUL-terminated: size bounds the read), it must refuse
 * or answer three finite shares in [0, FIT_MIX_MAX], not all zero. The same entry replays the corpus in
 * the unit suite (test-fit.c). */

#include <math.h>

#include "daemon/fit.h"
#include "fuzz-fit-mix.h"
#include "fuzz-copy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        double m[FIT_PARAMS_MAX - 1];
        char *copy;
        int r;

        copy = fuzz_copy(data, size);
        if (!copy)
                return 0;
        r = fit_mix_parse(copy, size, m);
        free(copy);
        if (r < 0) {
                assert(r == -EINVAL);
                return 0;
        }
        assert(isfinite(m[0]) && isfinite(m[1]) && isfinite(m[2]));
        for (int i = 0; i < 3; i++)
                assert(m[i] >= 0 && m[i] <= FIT_MIX_MAX);
        assert(m[0] > 0 || m[1] > 0 || m[2] > 0);
        return 0;
}
