#pragma once
/* The libFuzzer entry point of fuzz-curve-hist.c, shared with the corpus replay in test-curve.c. */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
