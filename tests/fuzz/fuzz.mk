# Fuzz targets: tests/fuzz/fuzz-*.c, each a libFuzzer entry point built with
# clang and ASan/UBSan, linked with the shared sources and every library a
# target may need.  A target may #include the .c it fuzzes (to reach static
# functions), as long as that file is not one of the shared sources.
#
#   make fuzz                  build all and run each for FUZZ_SECONDS
#   make -f tests/fuzz/fuzz.mk build
FB := build-fuzz
FUZZ_SECONDS ?= 10
FCC := clang
FCFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	$(shell pkg-config --cflags libssh2 libstrophe libsodium json-c)
FLIBS := $(shell pkg-config --libs libssh2 libstrophe libsodium json-c libcrypto) -lpthread
# ldns: sockoutd's DNS decoder (dispatcher/dns-wire.c)
FLIBS += $(shell pkg-config --libs ldns)
# c-ares: sockoutd's host resolver (dispatcher/resolve.c, in sockoutd-in-one.h)
FLIBS += $(shell pkg-config --libs libcares)
SHARED := $(wildcard common/*.c) $(wildcard protocol/*.c)
# names (dispatcher/resolve.c): c-ares
FLIBS += $(shell pkg-config --libs libcares)
# Targets may #include any source file: rebuild when any of them changes.
ALLSRC := $(wildcard */*.[ch] helpers/*/*.[ch])
TARGETS := $(patsubst tests/fuzz/%.c,$(FB)/%,$(wildcard tests/fuzz/fuzz-*.c))

build: $(TARGETS)

$(FB)/fuzz-%: tests/fuzz/fuzz-%.c $(SHARED) $(ALLSRC)
	@mkdir -p $(FB)
	@echo "  FUZZ    $@"
	@$(FCC) $(FCFLAGS) $(FCFLAGS_$*) -o $@ $< $(filter-out $(FUZZ_EXCLUDE_$*),$(SHARED)) $(FLIBS)

run: build
	@set -e; for t in $(TARGETS); do \
		n=$$(basename $$t); mkdir -p $(FB)/corpus/$$n; \
		echo "  RUN     $$n ($(FUZZ_SECONDS)s)"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -artifact_prefix=$(FB)/$$n- $(FB)/corpus/$$n >$(FB)/$$n.log 2>&1 || \
			{ tail -30 $(FB)/$$n.log; exit 1; }; \
		grep -E '^Done|^#[0-9]+.*DONE' $(FB)/$$n.log | tail -1; \
	done

.PHONY: build run
