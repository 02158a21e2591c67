# sockout - one GNU Makefile for the whole tree.
#
#   make            build everything into build/
#   make SAN=1      the same with ASan+UBSan into build-san/
#   make demo       install what is missing, build, show the main job working
#   make check      install what is missing, build (plain and sanitizer) and
#                   run every test; ends with "N passed, N failed, N skipped"
#   make bench      throughput/latency/memory ratios against same-run baselines
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        Debian packages (debian/, dpkg-buildpackage) into build/deb/
#
# Modules add themselves through their module.mk files.

PREFIX ?= /usr/local
DESTDIR ?=
SAN ?=
V ?=

ifeq ($(SAN),1)
B ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B ?= build
SANFLAGS :=
endif

CC ?= cc
PKGS := libssh2 libstrophe libsodium json-c
CSTD := -std=c11 -D_GNU_SOURCE
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
OPT ?= -O2 -g
CFLAGS ?=
override CFLAGS += $(CSTD) $(WARN) $(OPT) $(SANFLAGS) -MMD -MP -I.
LDFLAGS ?=
override LDFLAGS += $(SANFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

pc_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pc_libs = $(shell pkg-config --libs $(1) 2>/dev/null)

# Shared code: every program links this.
COMMON_SRC := $(wildcard common/*.c) $(wildcard protocol/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIBCOMMON := $(B)/libsockout-common.a

PROGS :=
UNIT_TESTS :=
ALL_TARGETS :=

all: build-all

include $(sort $(wildcard */module.mk) $(wildcard helpers/*/module.mk))

build-all: $(PROGS) $(UNIT_TESTS) $(ALL_TARGETS)

$(LIBCOMMON): $(COMMON_OBJ)
	@echo "  AR      $@"
	$(Q)ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(CFLAGS_$(subst /,_,$(dir $<))) -c -o $@ $<

deps:
	@scripts/install-deps

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 all
	@tests/run --builds "build build-san"

test: all
	@tests/run --builds "$(B)"

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run

fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk run

lint:
	clang-tidy --quiet $(COMMON_SRC) -- $(CSTD) -I.
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 -D_GNU_SOURCE --suppress=missingIncludeSystem --inline-suppr -I. common protocol dispatcher guest helpers

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

# Daemons go to sbin, user commands to bin, the shim next to nothing else
# in lib/sockout (sockout-run finds it there relative to itself).  The
# systemd units are templates: @sbindir@ and @sysconfdir@ are replaced here,
# so that ExecStart= follows PREFIX.  Units, sysusers.d and the users go
# where systemd looks for them under PREFIX (/usr/local/lib/systemd/system
# is searched as well as /usr/lib/systemd/system).  Without DESTDIR, as
# root, the users are created at once (systemd-sysusers), as a package's
# postinst would do; docs/operations.md says what to do next.
SBIN_PROGS := sockoutd sockout-plain sockout-ssh sockout-im
BIN_PROGS := sockoutctl sockout-run
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
UNITS := $(patsubst conf/systemd/%.in,%,$(wildcard conf/systemd/*.service.in))
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/sockout \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/doc/sockout/examples $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	for p in $(SBIN_PROGS); do [ ! -f $(B)/$$p ] || install -m 0755 $(B)/$$p $(DESTDIR)$(PREFIX)/sbin/; done
	for p in $(BIN_PROGS); do [ ! -f $(B)/$$p ] || install -m 0755 $(B)/$$p $(DESTDIR)$(PREFIX)/bin/; done
	[ ! -f $(B)/libsockout-guest.so ] || install -m 0644 $(B)/libsockout-guest.so $(DESTDIR)$(PREFIX)/lib/sockout/
	for m in man/*.[158]; do [ ! -f $$m ] || install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/; done
	install -m 0644 conf/*.conf $(DESTDIR)$(PREFIX)/share/doc/sockout/examples/
	for u in $(UNITS); do \
		sed -e 's|@sbindir@|$(PREFIX)/sbin|g' -e 's|@sysconfdir@|$(SYSCONFDIR)|g' conf/systemd/$$u.in \
			>$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp && \
		! grep -n '@[a-z]*@' $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp && \
		mv $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	install -m 0644 conf/sysusers.d/sockout.conf $(DESTDIR)$(SYSUSERSDIR)/sockout.conf
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/sockout.conf; fi

# The Debian packages, built by Debian's tools (debian/rules: dh, with this
# Makefile's install).  dpkg-buildpackage builds in the tree it is given and
# writes its results to the parent directory, so it is given a copy of the
# sources (the files git knows, or the whole tree outside git) in
# build/deb/src/sockout: the working tree, its test builds and its parent
# directory stay as they were.  The packages, .buildinfo and .changes end
# up in build/deb/.  This make's variables (SAN=1, B=...) are not passed on:
# the package is always the plain build with Debian's flags.
DEBOUT := build/deb
deb: deps
	rm -rf $(DEBOUT)
	mkdir -p $(DEBOUT)/src/sockout
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard; \
	else \
		find . \( -path ./.git -o -path ./build -o -path ./build-san -o -path ./build-fuzz \) -prune -o -type f -print0; \
	fi | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(DEBOUT)/src/sockout
	cd $(DEBOUT)/src/sockout && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -b -us -uc -Jauto
	mv $(DEBOUT)/src/*.deb $(DEBOUT)/src/*.buildinfo $(DEBOUT)/src/*.changes $(DEBOUT)/
	rm -rf $(DEBOUT)/src
	@ls -l $(DEBOUT)

clean:
	rm -rf build build-san build-fuzz

.PHONY: all build-all deps demo check test bench fuzz lint format install deb clean

-include $(COMMON_OBJ:.o=.d)
.SECONDARY:
