#pragma once
/* The libFuzzer entry point of fuzz-bbb-xml.c, shared with the corpus replay test. */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
