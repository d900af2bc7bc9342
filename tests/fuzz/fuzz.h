/*
 * fuzz.h: what every fuzz target in tests/fuzz/ provides.
 *
 * Each fuzz-<name>.c defines LLVMFuzzerTestOneInput(). Linked with
 * -fsanitize=fuzzer it is a libFuzzer program (make fuzz, make
 * fuzz-smoke); linked with replay.c it is a plain program that replays
 * the corpus and the saved regressions as TAP (make check). A target
 * reports a broken invariant by abort(), so both runners see it as a
 * crash. Targets that need a one-time set-up also define
 * LLVMFuzzerInitialize(); replay.c calls it when it exists.
 */
#ifndef RN_FUZZ_H
#define RN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#endif
