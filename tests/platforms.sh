#!/usr/bin/env bash
# platforms.sh DTSIM SOURCE_DIR - first dtsim's own platforms
# (platforms/*.xml): `dtsim check` must accept each, a file written by a
# generator (platforms/NAME.sh) must be what the generator writes, and on
# the ideal network a 16-rank ring all-reduce of 1 GB on each large
# platform must take its header's closed form (within 1%).  Then every
# example platform SimGrid ships (kept in shared/simgrid-platforms beside
# the source tree, skipped when absent): a serial run and a
# data-parallel run on two workers must each finish (exit 0) or refuse
# with a one-line reason (exit 2, e.g. a one-host platform), or stop at
# a failure of a host that the platform's state profile turns off (exit
# 1, as without checkpoints it must, its results written); a crash, a
# hang or any other exit code fails; and `dtsim check` must agree (exit 0
# where the run finished, the run's reason where it refused).
set -u
dtsim=$1
src=$2
dir=$src/../shared/simgrid-platforms
. "$(dirname "$0")/checks.sh"

for f in "$src"/platforms/*.xml; do
    name=$(basename "$f")
    expect 0 "ok" -- "$dtsim" check "$src/tests/scenarios/tiny.ini" --platform "$f"
    gen=${f%.xml}.sh
    if [ -f "$gen" ]; then
        if bash "$gen" | cmp -s - "$f"; then
            ok "$name is what $(basename "$gen") writes"
        else
            bad "$name differs from what $(basename "$gen") writes: regenerate it"
        fi
    fi
done
ideal=(--cfg=network/model:CM02 --cfg=network/crosstraffic:0 --cfg=network/TCP-gamma:1e18)
# ring NAME SECONDS: the 16-rank ring all-reduce of 1 GB on platforms/NAME.xml
ring() {
    local got
    got=$("$dtsim" collective --platform "$src/platforms/$1.xml" --op allreduce --algo ring \
        --ranks 16 --bytes 1000000000 --json "${ideal[@]}" | json - .simulated_seconds)
    if awk -v g="${got:-nan}" -v w="$2" 'BEGIN { d = (g - w) / w; exit !(d < 0.01 && d > -0.01) }'; then
        ok "$1: 16-rank ring all-reduce of 1 GB in $got s, closed form $2 s"
    else
        bad "$1: 16-rank ring all-reduce of 1 GB in ${got:-?} s, closed form $2 s"
    fi
}
ring a100-superpod 0.07512 # 2 x 15 x (4 us + 62.5 MB x 4e-11 s/B)
ring p100-cluster 0.3015   # 2 x 15 x (50 us + 62.5 MB x 1.6e-10 s/B)

if [ ! -d "$dir" ]; then
    echo "no SimGrid example platforms at $dir: skipped"
    checks_done
    exit
fi
# Some example platforms turn on SimGrid's tracing into the current
# directory: run where that does no harm.
dtsim=$(cd "$(dirname "$dtsim")" && pwd)/$(basename "$dtsim")
src=$(cd "$src" && pwd)
dir=$(cd "$dir" && pwd)
cd "$tmp" || exit 1
ran=0
runs=0
reason() { grep '^dtsim:' "$1" | sed 's/0x[0-9a-f]*/0x.../g'; } # less SimGrid's pointers
for f in "$dir"/*.xml; do
    name=$(basename "$f")
    for kind in serial data-parallel; do
        workers=1
        [ "$kind" = data-parallel ] && workers=2
        timeout 120 "$dtsim" run "$src/tests/scenarios/tiny.ini" --platform "$f" --quiet \
            --no-plot --set strategy.kind=$kind --set cluster.workers=$workers \
            --out "$tmp/out" >"$tmp/log" 2>&1
        rc=$?
        runs=$((runs + 1))
        lines=$(grep -c '^dtsim:' "$tmp/log")
        [ "$rc" -eq 0 ] && ran=$((ran + 1))
        # a host the platform's state profile turns off ends the run
        # (exit 1, no checkpoint to restart from), its results written
        failed=0
        [ "$rc" -eq 1 ] && grep -q "^dtsim: host '.*' failed at .* the results up to the failure are in" \
            "$tmp/log" && [ -s "$tmp/out/summary.json" ] && failed=1
        if [ "$rc" -eq 0 ] || [ "$failed" = 1 ] || { [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ]; }; then
            ok "$name $kind: exit $rc $(grep '^dtsim:' "$tmp/log")"
        else
            bad "$name $kind: exit $rc"
            tail -3 "$tmp/log" | sed 's/^/    /'
        fi
        # dtsim check says what run does: ok where it runs, the same
        # reason where it refuses
        timeout 120 "$dtsim" check "$src/tests/scenarios/tiny.ini" --platform "$f" \
            --set strategy.kind=$kind --set cluster.workers=$workers >"$tmp/check" 2>&1
        crc=$?
        if [ "$failed" = 1 ] && [ "$crc" -eq 0 ] && grep -q "by its state profile" "$tmp/check"; then
            ok "$name $kind: dtsim check agrees (exit 0, naming the state profile's failures)"
        elif [ "$crc" -eq "$rc" ] && { [ "$rc" -ne 2 ] || [ "$(reason "$tmp/check")" = "$(reason "$tmp/log")" ]; }; then
            ok "$name $kind: dtsim check agrees (exit $crc)"
        else
            bad "$name $kind: dtsim check exit $crc, run exit $rc"
            grep '^dtsim:' "$tmp/check" | head -2 | sed 's/^/    check: /'
        fi
    done
done
# Refusing is allowed, but not as the rule: most of SimGrid's examples are
# ordinary platforms that must run.
if [ $((2 * ran)) -lt "$runs" ]; then
    bad "only $ran of $runs runs finished; most should"
else
    ok "$ran of $runs runs finished, the others were refused with a reason"
fi
checks_done
