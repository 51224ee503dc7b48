#pragma once
/* For fuzz targets of parsers that take (buffer, size): an exact-size heap copy of the input without a
 * terminator, so that ASan sees any read past size. NULL when out of memory; free() it. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
        char *copy = malloc(size ? size : 1);

        if (copy && size)
                memcpy(copy, data, size);
        return copy;
}
