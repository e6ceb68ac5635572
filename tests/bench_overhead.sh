#!/usr/bin/env bash
# bench_overhead.sh DTSIM SOURCE_DIR - the simulator's overhead on 8-worker
# data-parallel runs: dtsim times, in the same run, the wall seconds spent
# in the real kernels (data loading, forward, backward, optimizer, the
# all-reduce's additions, evaluation) and prints them against the run's
# wall time; the rest is simulation (SimGrid, message copies, bookkeeping).
# The less compute a step has per byte communicated, the larger the share.
set -u
dtsim=$1
src=$2
. "$(dirname "$0")/checks.sh" # $tmp
plat=$src/platforms/cluster-10gbe.xml
dp=(--set strategy.kind=data-parallel --set cluster.workers=8 --platform "$plat" --no-plot)
run() { # run LABEL SCENARIO ARGS...
    local label=$1 scenario=$2
    shift 2
    line=$("$dtsim" run "$src/scenarios/$scenario" "${dp[@]}" "$@" --out "$tmp/out" 2>/dev/null |
        grep 'simulation overhead')
    echo "$label: ${line#  }"
}
run "cnn (5x5 32,64; dense 1024), batch 32 a worker, 60 steps" serial-cnn.ini \
    --set train.batch=32 --set train.steps=60 --set train.eval_every=60 --set data.test_samples=1000
run "mlp 784-256-128-10, batch 256 a worker, 3 epochs" quickstart.ini \
    --set train.batch=256 --set train.epochs=3
run "mlp 784-256-128-10, batch 64 a worker, 12 epochs (quickstart)" quickstart.ini
