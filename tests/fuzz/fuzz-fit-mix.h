#pragma once
/* The libFuzzer entry point of fuzz-fit-mix.c, shared with the corpus replay in test-fit.c. */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
