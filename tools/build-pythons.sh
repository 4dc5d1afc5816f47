#!/usr/bin/env bash
# Build the interpreters of the cache (tools/build-python.sh NAME for each),
# BUILD_JOBS at a time (default 2): a build's configure and install steps
# run on one core, so a second build's compile fills the other.  Their apt
# steps take turns (build-python.sh locks them).
#
#   tools/build-pythons.sh NAME...
#
# Exit status: 0 when every build succeeded or had no source (status 3,
# listed as unavailable by the test table), else 1.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
jobs=${BUILD_JOBS:-2}
statuses=$(mktemp -d "${TMPDIR:-/tmp}/build-pythons.XXXXXX")
trap 'rm -rf "$statuses"' EXIT

for name in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    ( nice -n 5 "$here/build-python.sh" "$name"; echo $? > "$statuses/$name" ) &
done
wait

status=0
for name in "$@"; do
    result=$(cat "$statuses/$name" 2>/dev/null || echo 1)
    if [ "$result" -ne 0 ] && [ "$result" -ne 3 ]; then
        echo "$name: build failed (status $result)" >&2
        status=1
    fi
done
exit $status
