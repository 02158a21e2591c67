#!/bin/bash
# Every decoder has a libFuzzer target (tests/fuzz/); build them all with
# clang+ASan+UBSan and run each for a few seconds on its saved corpus.  A
# crash, leak or sanitizer report fails the test with the reproducer in the log.
# san: no
# timeout: 600
. "$(dirname "$0")/../lib.sh"
need clang
cd "$TOP" || fail "no tree"
# both cores for the build (each target compiles sockoutd whole); a few
# seconds each is a smoke run, `make fuzz' is the long one
make --no-print-directory -j2 -f tests/fuzz/fuzz.mk build || fail "fuzz targets do not build"
make --no-print-directory -f tests/fuzz/fuzz.mk run FUZZ_SECONDS="${FUZZ_SECONDS:-4}" || fail "a fuzz target failed"
pass
