#!/bin/bash
# The unit tests under valgrind (memcheck, leaks counted as errors), against
# the plain build: the sanitizer build covers the rest of the suite.
# san: no
# timeout: 300
. "$(dirname "$0")/../lib.sh"
need valgrind
# Valgrind 3.19 (Debian 12) has no pidfd_open (syscall 434): under it the
# call fails with ENOSYS, so a test of pidfds cannot run there.  It runs
# in the plain and ASan builds; here it is named, not counted.
novg="test-guest-pidfd"
n=0
for t in "$BIN"/tests/unit/test-*; do
	[ -x "$t" ] || continue
	case " $novg " in *" $(basename "$t") "*)
		log "not under valgrind: $(basename "$t") (valgrind lacks pidfd_open)"
		continue ;;
	esac
	log "valgrind $(basename "$t")"
	(cd "$TOP" && valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--trace-children=no "$t") >"$T/vg.log" 2>&1 || { cat "$T/vg.log"; fail "$(basename "$t") under valgrind"; }
	n=$((n + 1))
done
[ $n -gt 0 ] || fail "no unit test found in $BIN"
log "$n unit tests clean under valgrind"
pass
