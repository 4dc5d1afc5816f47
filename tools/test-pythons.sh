#!/usr/bin/env bash
# Run the test suite on every interpreter of the cache, one virtual
# environment each, and print a table: interpreter -> passed/failed/skipped.
#
#   tools/test-pythons.sh NAME...
#
# NAME "system" is the machine's own interpreter ($PYTHON, default
# python3), with the in-place build of `make build`; any other NAME is an
# interpreter of the cache (tools/build-python.sh).  Prints the table and
# exits 1 if any run failed or ran no test.
# A NAME whose interpreter is not in the cache (no source package could be
# had) is listed as "unavailable" with the reason from its build log; it is
# not a failure of the suite, and the table says so.
# Rows run TEST_JOBS at a time (default: the number of cores); the table
# keeps the order of the NAMEs.
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: tools/test-pythons.sh NAME..." >&2; exit 2; }
cache=${PYTRACEMALLOC_CACHE:-/opt/pytracemalloc}
repo=$(cd "$(dirname "$0")/.." && pwd)

# Copy the tracked and new files of the work tree (not the in-place build
# of the machine's own python, whose .so has the same name on every 3.11).
snapshot=$(mktemp -d "${TMPDIR:-/tmp}/pytracemalloc-src.XXXXXX")
results=$snapshot.results
trap 'rm -rf "$snapshot" "$results" "$results".*' EXIT
mkdir -p "$cache/logs" "$snapshot/tree" "$snapshot/rows"
(cd "$repo" && git ls-files -co --exclude-standard -z \
    | grep -zv '\.so$' | xargs -0 tar -cf - ) | tar -xf - -C "$snapshot/tree"

summarize() {
    # The counts of pytest's closing line, as "passed failed skipped".
    local line=$1 passed=0 failed=0 skipped=0 errors=0
    [[ $line =~ ([0-9]+)\ passed ]] && passed=${BASH_REMATCH[1]}
    [[ $line =~ ([0-9]+)\ failed ]] && failed=${BASH_REMATCH[1]}
    [[ $line =~ ([0-9]+)\ skipped ]] && skipped=${BASH_REMATCH[1]}
    [[ $line =~ ([0-9]+)\ error ]] && errors=${BASH_REMATCH[1]}
    echo "$passed $((failed + errors)) $skipped"
}

record() {
    # record NAME LOG INSTALL_STATUS TEST_STATUS ROWS_FILE
    local closing passed failed skipped verdict
    closing=$(grep -E '[0-9]+ (passed|failed|error)' "$2" | tail -n 1)
    read -r passed failed skipped <<< "$(summarize "$closing")"
    if [ "$3" -ne 0 ] || [ "$4" -ne 0 ] || [ "$passed" = 0 ]; then
        verdict="FAILED (log: $2)"
        [ "$failed" = 0 ] && failed=1
    else
        verdict="ok"
    fi
    echo "$1 $passed $failed $skipped $verdict" >> "$5"
}

torture() {
    # torture NAME PYTHON ROWS_FILE: CPython's own tests under
    # PYTRACEMALLOC=25 give the untraced results (tools/torture.py); one row
    # of the table.  One torture at a time (flock): CPython's thread and
    # asyncio tests are timing-sensitive, and two regrtest -j2 runs at once
    # on two cores would fail tests the baseline passed.
    local tlog=$cache/logs/torture-$1.log quick=
    [ "$1" != "${1#3.11-}" ] && quick=--quick
    if (cd "$cache" && flock "$cache/torture.lock" \
            "$repo/tools/torture.py" $quick "$2" "$1") > "$tlog" 2>&1; then
        echo "torture:$1 - - - ok" >> "$3"
    else
        echo "torture:$1 - - - FAILED (log: $tlog)" >> "$3"
    fi
    head -n 1 "$tlog"
}

# One row of the table (and its torture row), into $results.NAME.
run_row() {
    local name=$1 rows=$results.$1
    : > "$rows"
    if [ "$name" = system ]; then
        local log=$cache/logs/test-system.log
        (cd "$repo" && "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider tests) > "$log" 2>&1
        local test_status=$?
        echo "system: $(tail -n 1 "$log")"
        record "system($("${PYTHON:-python3}" -c 'import platform; print(platform.python_version())'))" \
            "$log" 0 "$test_status" "$rows"
        torture system "${PYTHON:-python3}" "$rows"
        return
    fi
    local prefix=$cache/pythons/$name
    if [ ! -f "$prefix/.built" ]; then
        local reason
        reason=$(tail -n 1 "$cache/logs/$name.status" 2>/dev/null || echo "not built")
        echo "$name - - - unavailable: $reason" >> "$rows"
        return
    fi
    local python venv=$cache/venvs/$name log=$cache/logs/test-$name.log
    python=$(ls "$prefix"/bin/python3.[0-9]* 2>/dev/null | grep -E 'python3\.[0-9]+t?$' | head -n 1)
    # Its own copy of the sources: rows build at the same time.
    local source=$snapshot/rows/$name
    mkdir -p "$source" && cp -a "$snapshot/tree/." "$source/"
    {
        [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check \
            setuptools wheel -r "$repo/tests/requirements.txt"
        (cd "$source" && rm -rf build &&
         PYTRACEMALLOC_CFLAGS="-Wall -Wextra -Werror" "$venv/bin/python" -m pip install \
            -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps .)
    } > "$log" 2>&1
    local install_status=$?
    # Run from outside the source copy so that the installed package is the
    # one imported.
    (cd "$cache" && "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        "$source/tests") >> "$log" 2>&1
    local test_status=$?
    echo "$name: $(tail -n 1 "$log")"
    record "$name" "$log" "$install_status" "$test_status" "$rows"
    # The free-threaded builds run only tests/test_versions.py (the engine
    # refuses them): nothing to torture there.
    if [ "$install_status" -eq 0 ] && [ "$name" = "${name%t}" ]; then
        torture "$name" "$venv/bin/python" "$rows"
    fi
}

# Rows run $TEST_JOBS at a time (default: the number of cores), each
# suite in its own process tree; torture runs take turns (torture()).
jobs=${TEST_JOBS:-$(nproc)}
running=0
for name in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_row "$name" &
    running=$((running + 1))
done
wait
for name in "$@"; do
    cat "$results.$name" >> "$results"
done

echo
printf '%-28s %8s %8s %8s  %s\n' interpreter passed failed skipped result
status=0
total_passed=0 total_failed=0 total_skipped=0
while read -r name passed failed skipped verdict; do
    printf '%-28s %8s %8s %8s  %s\n' "$name" "$passed" "$failed" "$skipped" "$verdict"
    case "$verdict" in ok|unavailable*) ;; *) status=1 ;; esac
    if [ "$passed" != - ]; then
        total_passed=$((total_passed + passed))
        total_failed=$((total_failed + failed))
        total_skipped=$((total_skipped + skipped))
    fi
done < "$results"
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit $status
