#!/bin/bash
# timeout: 420
# 69-relay-both-paths: the paper's READ/WRITE path still carries everything
# when the helper does not offer HANDOFF.  Runs 16 (sha256 through the
# helper, curl, listeners, sockoutctl's byte counts, a reset when the helper
# dies), 19 (slow server, slow guest reader) and 66-relay-memory with
# sockout-plain's `handoff no'; they check that no connection was handed
# over (16, 19), while their default runs check that connections were.
set -e
here=$(dirname "$0")
export PLAIN_HANDOFF=no
for t in 16-sockoutd-helper 19-sockoutd-backpressure 66-relay-memory; do
	echo "=== $t with handoff no"
	bash "$here/$t.sh"
done
