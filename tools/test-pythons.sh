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
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: tools/test-pythons.sh NAME..." >&2; exit 2; }
cache=${PYTRACEMALLOC_CACHE:-/opt/pytracemalloc}
repo=$(cd "$(dirname "$0")/.." && pwd)

# Copy the tracked and new files of the work tree (not the in-place build
# of the machine's own python, whose .so has the same name on every 3.11).
snapshot=$(mktemp -d "${TMPDIR:-/tmp}/pytracemalloc-src.XXXXXX")
results=$snapshot.results
trap 'rm -rf "$snapshot" "$results"' EXIT
mkdir -p "$cache/logs"
(cd "$repo" && git ls-files -co --exclude-standard -z \
    | grep -zv '\.so$' | xargs -0 tar -cf - ) | tar -xf - -C "$snapshot"

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
    # record NAME LOG INSTALL_STATUS TEST_STATUS
    local closing passed failed skipped verdict
    closing=$(grep -E '[0-9]+ (passed|failed|error)' "$2" | tail -n 1)
    read -r passed failed skipped <<< "$(summarize "$closing")"
    if [ "$3" -ne 0 ] || [ "$4" -ne 0 ] || [ "$passed" = 0 ]; then
        verdict="FAILED (log: $2)"
        [ "$failed" = 0 ] && failed=1
    else
        verdict="ok"
    fi
    echo "$1 $passed $failed $skipped $verdict" >> "$results"
}

torture() {
    # torture NAME PYTHON: CPython's own tests under PYTRACEMALLOC=25 give
    # the untraced results (tools/torture.py); one row of the table.
    local tlog=$cache/logs/torture-$1.log quick=
    [ "$1" != "${1#3.11-}" ] && quick=--quick
    if (cd "$cache" && "$repo/tools/torture.py" $quick "$2" "$1") > "$tlog" 2>&1; then
        echo "torture:$1 - - - ok" >> "$results"
    else
        echo "torture:$1 - - - FAILED (log: $tlog)" >> "$results"
    fi
    head -n 1 "$tlog"
}

# The free-threaded build runs only tests/test_versions.py (the engine
# refuses it): nothing to torture there.
for name in "$@"; do
    if [ "$name" = system ]; then
        log=$cache/logs/test-system.log
        (cd "$repo" && "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider tests) > "$log" 2>&1
        test_status=$?
        tail -n 1 "$log"
        record "system($("${PYTHON:-python3}" -c 'import platform; print(platform.python_version())'))" \
            "$log" 0 "$test_status"
        torture system "${PYTHON:-python3}"
        continue
    fi
    prefix=$cache/pythons/$name
    if [ ! -f "$prefix/.built" ]; then
        reason=$(tail -n 1 "$cache/logs/$name.status" 2>/dev/null || echo "not built")
        echo "$name - - - unavailable: $reason" >> "$results"
        continue
    fi
    python=$(ls "$prefix"/bin/python3.[0-9]* 2>/dev/null | grep -E 'python3\.[0-9]+t?$' | head -n 1)
    venv=$cache/venvs/$name
    log=$cache/logs/test-$name.log
    {
        [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check \
            setuptools wheel -r "$repo/tests/requirements.txt"
        (cd "$snapshot" && rm -rf build &&
         PYTRACEMALLOC_CFLAGS="-Wall -Wextra -Werror" "$venv/bin/python" -m pip install \
            -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps .)
    } > "$log" 2>&1
    install_status=$?
    # Run from outside the source copy so that the installed package is the
    # one imported.
    (cd "$cache" && "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        "$snapshot/tests") >> "$log" 2>&1
    test_status=$?
    tail -n 1 "$log"
    record "$name" "$log" "$install_status" "$test_status"
    if [ "$install_status" -eq 0 ] && [ "$name" = "${name%t}" ]; then
        torture "$name" "$venv/bin/python"
    fi
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
