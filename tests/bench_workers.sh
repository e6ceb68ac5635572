#!/usr/bin/env bash
# bench_workers.sh DTSIM SOURCE_DIR [ALLREDUCE] [WORKERS...] - how the wall
# time of a simulated step grows with the number of simulated workers at a
# fixed global batch (1,024 samples of synthetic 784-pixel data through the
# MLP 784-256-128-10), and with the number of steps.
#
# Each worker count W (default 8 16 ... 1024, on a generated cluster of
# 1,024 hosts) runs 4 and 4 + K steps of data-parallel training with
# ALLREDUCE (default ring), K = max(8, 4096 / W) so that each difference
# is seconds long; the difference over K is the wall time a step takes,
# without start-up (allocating and initialising W replicas), and the two
# runs show how wall time grows with the steps.
# Printed beside it: that time over W's share of the 8-worker figure (1.00:
# growing exactly in proportion to W; less: slower than linear), and the
# run's peak memory.
set -u
dtsim=$1
src=$2
algo=${3:-ring}
shift $(($# < 3 ? $# : 3))
workers=("$@")
[ ${#workers[@]} -eq 0 ] && workers=(8 16 32 64 128 256 512 1024)
. "$(dirname "$0")/checks.sh" # $tmp
cluster_xml "$tmp/cluster.xml" 1024
timed() { # timed W STEPS: "wall_seconds peak_kb" of one run
    local w=$1 steps=$2
    /usr/bin/time -f "%e %M" -o "$tmp/time" "$dtsim" run "$src/tests/scenarios/tiny.ini" \
        --platform "$tmp/cluster.xml" --quiet --no-plot --out "$tmp/out-$w-$steps" \
        --set model.hidden=256,128 --set strategy.kind=data-parallel \
        --set strategy.allreduce="$algo" --set cluster.workers="$w" \
        --set train.batch=$((1024 / w)) --set data.train_samples=8192 \
        --set train.steps="$steps" --set train.eval_every="$steps" >"$tmp/log" 2>&1 ||
        echo "FAILED: W=$w steps=$steps: $(tail -1 "$tmp/log")" >&2
    cat "$tmp/time"
}
echo "data-parallel MLP 784-256-128-10, global batch 1024, all-reduce $algo:"
base=""
for w in "${workers[@]}"; do
    k=$((4096 / w > 8 ? 4096 / w : 8))
    read -r t1 _ < <(timed "$w" 4)
    read -r t2 kb < <(timed "$w" $((4 + k)))
    step=$(awk -v a="$t1" -v b="$t2" -v k="$k" 'BEGIN { print (b - a) / k }')
    [ -z "$base" ] && base=$(awk -v s="$step" -v w="$w" 'BEGIN { print s / w }')
    awk -v first="${workers[0]}" -v w="$w" -v a="$t1" -v b="$t2" -v k="$k" -v s="$step" -v kb="$kb" -v base="$base" 'BEGIN {
        printf "  %4d workers (batch %3d each): %8.4f s a step (4 steps %.1f s, %d steps %.1f s), %.2f of linear from %s, peak %.0f MiB\n",
            w, 1024 / w, s, a, 4 + k, b, s / (base * w), first, kb / 1024
    }'
done
