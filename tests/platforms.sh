#!/usr/bin/env bash
# platforms.sh DTSIM SOURCE_DIR - dtsim on every example platform SimGrid
# ships (kept in shared/simgrid-platforms beside the source tree): each run
# must finish (exit 0) or refuse with a one-line reason (exit 2); a crash,
# a hang or any other exit code fails.
set -u
dtsim=$1
src=$2
dir=$src/../shared/simgrid-platforms
if [ ! -d "$dir" ]; then
    echo "no SimGrid example platforms at $dir: skipped"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for f in "$dir"/*.xml; do
    name=$(basename "$f")
    timeout 120 "$dtsim" run "$src/tests/scenarios/tiny.ini" --platform "$f" --quiet --no-plot \
        --out "$tmp/out" >"$tmp/log" 2>&1
    rc=$?
    lines=$(grep -c '^dtsim:' "$tmp/log")
    if [ "$rc" -eq 0 ] || { [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ]; }; then
        pass=$((pass + 1))
        echo "ok: $name: exit $rc $(grep '^dtsim:' "$tmp/log")"
    else
        fail=$((fail + 1))
        echo "FAILED: $name: exit $rc"
        tail -3 "$tmp/log" | sed 's/^/    /'
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
