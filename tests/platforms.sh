#!/usr/bin/env bash
# platforms.sh DTSIM SOURCE_DIR - dtsim on every example platform SimGrid
# ships (kept in shared/simgrid-platforms beside the source tree): a serial
# run and a data-parallel run on two workers must each finish (exit 0) or
# refuse with a one-line reason (exit 2, e.g. a one-host platform); a
# crash, a hang or any other exit code fails.
set -u
dtsim=$1
src=$2
dir=$src/../shared/simgrid-platforms
if [ ! -d "$dir" ]; then
    echo "no SimGrid example platforms at $dir: skipped"
    exit 77
fi
. "$(dirname "$0")/checks.sh"
# Some example platforms turn on SimGrid's tracing into the current
# directory: run where that does no harm.
dtsim=$(cd "$(dirname "$dtsim")" && pwd)/$(basename "$dtsim")
src=$(cd "$src" && pwd)
dir=$(cd "$dir" && pwd)
cd "$tmp" || exit 1
ran=0
for f in "$dir"/*.xml; do
    name=$(basename "$f")
    for kind in serial data-parallel; do
        workers=1
        [ "$kind" = data-parallel ] && workers=2
        timeout 120 "$dtsim" run "$src/tests/scenarios/tiny.ini" --platform "$f" --quiet \
            --no-plot --set strategy.kind=$kind --set cluster.workers=$workers \
            --out "$tmp/out" >"$tmp/log" 2>&1
        rc=$?
        lines=$(grep -c '^dtsim:' "$tmp/log")
        [ "$rc" -eq 0 ] && ran=$((ran + 1))
        if [ "$rc" -eq 0 ] || { [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ]; }; then
            ok "$name $kind: exit $rc $(grep '^dtsim:' "$tmp/log")"
        else
            bad "$name $kind: exit $rc"
            tail -3 "$tmp/log" | sed 's/^/    /'
        fi
    done
done
# Refusing is allowed, but not as the rule: most of SimGrid's examples are
# ordinary platforms that must run.
total=$((pass + fail))
if [ $((2 * ran)) -lt "$total" ]; then
    bad "only $ran of $total runs finished; most should"
else
    ok "$ran of $total runs finished, the others were refused with a reason"
fi
checks_done
