#!/usr/bin/env bash
# bench_memory.sh DTSIM SOURCE_DIR [WORKERS] - peak memory of a data-parallel
# run of the MLP 784-256-128-10 with WORKERS workers (default 1024), each
# with its own replica (parameters, gradients, momentum, activations), on a
# generated cluster of as many hosts.  Prints the peak resident set size of
# the dtsim process (VmHWM, read from /proc while it runs) against 4 GiB.
set -u
dtsim=$1
src=$2
workers=${3:-1024}
. "$(dirname "$0")/checks.sh" # $tmp
cluster_xml "$tmp/cluster.xml" "$workers"
start=$(date +%s.%N)
"$dtsim" run "$src/tests/scenarios/tiny.ini" --platform "$tmp/cluster.xml" --quiet --no-plot \
    --out "$tmp/out" --set model.hidden=256,128 --set strategy.kind=data-parallel \
    --set cluster.workers="$workers" --set train.batch=16 \
    --set data.train_samples=$((16 * workers)) --set train.steps=3 --set train.eval_every=3 &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
    kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
    [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
    sleep 0.2
done
wait "$pid"
rc=$?
end=$(date +%s.%N)
awk -v kb="$peak" -v w="$workers" -v rc="$rc" -v t0="$start" -v t1="$end" 'BEGIN {
    gib = kb / 1048576
    printf "%d data-parallel workers (MLP 784-256-128-10, batch 16 each): exit %d, peak RSS %.2f GiB (%.1f MiB a worker), %.1f s wall; target 4 GiB: %s\n",
        w, rc, gib, kb / 1024 / w, t1 - t0, (gib <= 4 && rc == 0) ? "met" : "NOT met"
    exit !(gib <= 4 && rc == 0)
}'
