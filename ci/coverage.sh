#!/bin/sh
# ci/coverage.sh BUILD MIN DIR...: turn the gcov data of BUILD into an lcov
# HTML report (BUILD/coverage-html) and print the line coverage of each DIR.
# Fails when any DIR is under MIN percent.
set -eu
BUILD=$1
MIN=$2
shift 2
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)

info="$BUILD/coverage.info"
lcov --quiet --capture --directory "$BUILD" --base-directory "$ROOT" \
    --output-file "$info.all" >/dev/null 2>&1
lcov --quiet --extract "$info.all" "$ROOT/src/*" --output-file "$info" \
    >/dev/null 2>&1
genhtml --quiet "$info" --output-directory "$BUILD/coverage-html" \
    >/dev/null 2>&1
echo "coverage report: $BUILD/coverage-html/index.html"

fail=0
for dir in "$@"; do
    part="$BUILD/coverage-$(echo "$dir" | tr '/' '_').info"
    lcov --quiet --extract "$info" "$ROOT/$dir/*" --output-file "$part" \
        >/dev/null 2>&1
    pct=$(lcov --summary "$part" 2>&1 |
        sed -n 's/.*lines\.*: *\([0-9.]*\)%.*/\1/p')
    if [ -z "$pct" ]; then
        echo "line coverage $dir: no data" >&2
        fail=1
        continue
    fi
    verdict=ok
    if awk -v p="$pct" -v m="$MIN" 'BEGIN { exit !(p < m) }'; then
        verdict="FAIL: under $MIN%"
        fail=1
    fi
    echo "line coverage $dir: $pct% ($verdict)"
done
exit "$fail"
