# sockoutd-lib.sh - sourced by the dispatcher's tests (1x-sockoutd-*.sh).

# sockoutd_stop_clean - SIGTERM sockoutd, wait for it, and fail if it did
# not exit 0 or if the sanitizers reported anything in its log.
sockoutd_stop_clean() {
	kill -TERM "$SOCKOUTD_PID" 2>/dev/null || fail "sockoutd is not running"
	local rc=0
	wait "$SOCKOUTD_PID" || rc=$?
	grep -E "Sanitizer|runtime error" "$T/sockoutd.log" && fail "sanitizer report in sockoutd's log"
	[ $rc = 0 ] || fail "sockoutd exited $rc"
	grep -q "stopped" "$T/sockoutd.log" || fail "sockoutd did not stop cleanly"
}
