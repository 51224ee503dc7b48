/* libFuzzer target: experiment_request_parse() reads the body of POST /api/v1/experiments, which any
 * client holding the token sends. Whatever the bytes (not NUL-terminated: size bounds the read), it must
 * refuse with a reason or answer a valid name and a window within bounds. Replayed over its corpus in
 * the unit suite (fuzz-experiment-body-corpus). */

#include <string.h>

#include "daemon/experiments.h"
#include "macro.h"
#include "fuzz-copy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TIME_MAX 253402300799999LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ExperimentRequest e;
        const char *reason = NULL;
        char *copy;
        int r;

        copy = fuzz_copy(data, size);
        if (!copy)
                return 0;
        r = experiment_request_parse(copy, size, FUZZ_TIME_MAX, &e, &reason);
        free(copy);
        if (r < 0) {
                assert(r == -EINVAL);
                assert(reason && reason[0]);
                return 0;
        }
        assert(id_is_valid(e.name));
        assert(0 <= e.start_ms && e.start_ms < e.end_ms && e.end_ms <= FUZZ_TIME_MAX);
        return 0;
}
