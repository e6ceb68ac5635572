#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SOURCE_DIR [SECONDS] - run each libFuzzer target of a
# -DDTSIM_FUZZ=ON build for SECONDS (default 60), from the seeds: the
# shipped scenarios, tests/scenarios and tests/fuzz.  Any crash, sanitizer
# report, hang (10 s on one input) or refusal that is not bad input stops it
# and fails; libFuzzer then writes the input as crash-*, timeout-* or
# leak-* in the current directory (rerun it: BUILD_DIR/tests/fuzz_scenario
# FILE).  Prints how many inputs it ran.
set -u
build=$1
src=$2
seconds=${3:-60}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
rc=0
for target in "$build"/tests/fuzz_*; do
    [ -x "$target" ] || continue
    log=$corpus/$(basename "$target").log
    "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        "$corpus" "$src/scenarios" "$src/tests/scenarios" "$src/tests/fuzz" >"$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$status" -eq 0 ]; then
        echo "ok: $(basename "$target"): ${runs:-?} inputs in ${seconds} s, no finding"
    else
        echo "FAILED: $(basename "$target") (exit $status) after ${runs:-?} inputs:"
        grep -E "ERROR|SUMMARY|refused|Test unit written|runtime error" "$log" | head -20 | sed 's/^/    /'
        rc=1
    fi
done
exit $rc
