#!/usr/bin/env bash
# bench_overhead.sh DTSIM SOURCE_DIR [THREADS] - how fast 8-worker
# data-parallel runs, a 4-stage pipeline and a 4-way tensor-parallel MLP
# go on one thread and on THREADS (default: the cores), measured side by
# side, and the simulator's own share of each.
#
# For each run it prints the command's wall time (data loading included)
# with --threads 1 and with --threads THREADS, the best of REPEAT (default
# 2) runs of each taken in turn, as other work on a shared machine only
# ever slows a run down; their ratio, whether the two
# gave the same bytes (metrics.csv, trace.json, saved parameters), and the
# run's own line: the wall seconds spent in (or, on several threads,
# waiting for) the real kernels (data loading, forward, backward,
# optimizer, evaluation, the all-reduce's additions and the copies that
# deliver what each rank receives into its buffer, data movement the
# algorithm makes on real hardware too) against the run's wall time; the
# rest is simulation (SimGrid, message handling).  dtsim runs a
# kernel on one OpenBLAS thread whatever the environment says, so one
# thread is the best single-threaded configuration; for the quickstart it
# also times the command with no --threads under three settings of
# OPENBLAS_NUM_THREADS.
set -u
dtsim=$1
src=$2
threads=${3:-$(nproc)}
repeat=${REPEAT:-2}
. "$(dirname "$0")/checks.sh" # $tmp
plat=$src/platforms/cluster-10gbe.xml
dp=(--set strategy.kind=data-parallel --set cluster.workers=8 --platform "$plat")
envset=() # what timed's commands run under: env's arguments
timed() { # timed OUT THREADS SCENARIO ARGS...: the command's wall seconds (THREADS "": no --threads)
    local out=$1 n=$2 scenario=$3
    shift 3
    local threads=() t0 t1
    [ -n "$n" ] && threads=(--threads "$n")
    t0=$(date +%s.%N)
    env "${envset[@]}" "$dtsim" run "$src/scenarios/$scenario" --no-plot "$@" --out "$out" \
        "${threads[@]}" --save-model "$out.bin" >"$out.log" 2>&1 ||
        echo "FAILED: $(tail -1 "$out.log")" >&2
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
differs() { # differs A B: which of B's results (metrics.csv, trace.json, saved parameters) differ from A's
    local f
    for f in "$2/metrics.csv" "$2/trace.json" "$2.bin"; do
        cmp -s "$tmp/${f/$2/$1}" "$tmp/$f" || echo -n "$f "
    done
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
run() { # run LABEL SCENARIO ARGS...: REPEAT times each, alternating, the best of each
    local label=$1 scenario=$2
    shift 2
    local one="" many="" same=yes d
    for ((k = 0; k < repeat; k++)); do
        rm -rf "$tmp"/one* "$tmp"/many*
        one=$(min "$(timed "$tmp/one" 1 "$scenario" "$@")" "$one")
        many=$(min "$(timed "$tmp/many" "$threads" "$scenario" "$@")" "$many")
        d=$(differs one many)
        [ -z "$d" ] || same="NO (${d}differ)"
    done
    echo "$label:"
    printf '  1 thread %.1f s, %d threads %.1f s: %.2fx; same results: %s\n' "$one" "$threads" \
        "$many" "$(awk -v a="$one" -v b="$many" 'BEGIN { print a / b }')" "$same"
    for n in one many; do # the last repeat's
        echo "  $(grep 'simulation overhead' "$tmp/$n.log" | sed 's/^ *//; s/; results in.*//')"
    done
}
run "cnn (5x5 32,64; dense 1024), batch 32 a worker, 60 steps" serial-cnn.ini "${dp[@]}" \
    --set train.batch=32 --set train.steps=60 --set train.eval_every=60 --set data.test_samples=1000
run "mlp 784-256-128-10, batch 256 a worker, 3 epochs" quickstart.ini "${dp[@]}" \
    --set train.batch=256 --set train.epochs=3
run "mlp 784-256-128-10, batch 64 a worker, 12 epochs (quickstart)" quickstart.ini "${dp[@]}"
# defaults SCENARIO ARGS..., right after run with the same: the command a
# user types, with no --threads and OPENBLAS_NUM_THREADS unset, 1 or 2,
# the best of REPEAT each, and whether it gave run's bytes.
defaults() {
    local scenario=$1
    shift
    local line="" same=yes d
    for setting in unset 1 2; do
        envset=(-u OPENBLAS_NUM_THREADS)
        [ "$setting" = unset ] || envset=("OPENBLAS_NUM_THREADS=$setting")
        local best=""
        for ((k = 0; k < repeat; k++)); do
            rm -rf "$tmp"/env*
            best=$(min "$(timed "$tmp/env" "" "$scenario" "$@")" "$best")
            d=$(differs one env)
            [ -z "$d" ] || same="NO (${d}differ)"
        done
        line+=$(printf '%s%s %.1f s' "${line:+, }" "$setting" "$best")
    done
    envset=()
    echo "  the default command (no --threads), OPENBLAS_NUM_THREADS $line;" \
        "same results: $same"
}
defaults quickstart.ini "${dp[@]}"
run "pipeline: mlp 784-2048x4-10 on 4 stages, 1F1B, 4 micro-batches, 20 steps" pipeline-bubble.ini
run "tensor: the same mlp on 4 shards (tp = 4), batch 256, 20 steps" pipeline-bubble.ini \
    --set strategy.kind=tensor --set strategy.tp=4
