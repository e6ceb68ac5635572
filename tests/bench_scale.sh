#!/usr/bin/env bash
# bench_scale.sh DTSIM SOURCE_DIR [GPUS...] - how the wall time and the
# peak memory of simulating one training step grow with the cluster, in
# cost mode: the 145.6-billion-parameter GPT of Megatron-LM's Table 1 (80
# blocks of hidden size 12288, 96 heads, sequence 2048, bf16, recomputation)
# with tensor parallelism 8 and pipeline parallelism 8, on 64 GPUs a
# replica, 96 micro-batches of one sequence each (the paper's 2,304 on
# 1,536 GPUs), with as many replicas as GPUS allows (default: 64 128 256
# 512 1536 3072; each a multiple of 64), on platforms/a100-superpod.xml.
# Prints, a line per size, the simulated seconds of the step, the wall
# seconds the whole `dtsim run` took (checks, placement and simulation) and
# its peak resident set (/usr/bin/time), and the wall time's ratio to the
# smallest size's.  A benchmark: it prints figures and
# checks nothing; the targets (1,536 GPUs in 5 minutes and 8 GiB) are read
# off its output.
set -u
dtsim=$1
src=$2
shift 2
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 128 256 512 1536 3072)
. "$(dirname "$0")/checks.sh" # $tmp
printf "%6s %10s %12s %12s %10s %12s\n" GPUs replicas "sim s/step" "wall s" "peak MiB" "wall ratio"
base=""
for n in "${sizes[@]}"; do
    d=$((n / 64))
    if /usr/bin/time -f "%e %M" -o "$tmp/time" "$dtsim" run "$src/scenarios/megatron-gpt.ini" --quiet \
        --no-plot --out "$tmp/run-$n" --set model.layers=80 --set model.d_model=12288 \
        --set model.heads=96 --set cluster.workers="$n" --set strategy.dp="$d" \
        --set strategy.pp=8 --set strategy.tp=8 --set train.batch=96 \
        --set strategy.microbatches=96 >"$tmp/log-$n" 2>&1; then
        :
    else
        echo "$n GPUs: failed: $(tail -1 "$tmp/log-$n")"
        continue
    fi
    sim=$(jq -r .simulated_seconds "$tmp/run-$n/summary.json")
    read -r wall kb <"$tmp/time"
    [ -n "$base" ] || base=$wall
    awk -v n="$n" -v d="$d" -v s="$sim" -v w="$wall" -v kb="$kb" -v b="$base" \
        'BEGIN { printf "%6d %10d %12.4f %12.1f %10.0f %12.2f\n", n, d, s, w, kb / 1024, w / b }'
done
