#!/usr/bin/env bash
# megatron-table1.sh [DTSIM [ROWS [OUT [RUN OPTIONS...]]]] - Table 1 of Narayanan et al.
# 2021 ("Efficient Large-Scale Language Model Training on GPU Clusters
# Using Megatron-LM"), the weak-scaling study of GPTs from 1.7 billion to
# a trillion parameters on up to 3,072 A100s, rerun by dtsim in cost mode
# on platforms/a100-superpod.xml with scenarios/megatron-gpt.ini: each row's
# model (layers l, hidden size h, heads), tensor-parallel size t,
# pipeline-parallel size p, data-parallel size d = GPUs / (t p), global
# batch B in micro-batches of one sequence, one step.  Prints a Markdown
# table of the paper's achieved teraFLOP/s per GPU beside dtsim's, both
# from the paper's FLOP count of a step,
#     F = 96 B s l h^2 (1 + s / 6h + V / 16 l h)    (s = 2048, V = 51,200)
# over the step's time and the GPUs, and the relative error of each row;
# OUT/table1.csv has the same.  ROWS: "all" (default) or a range such as
# 1-5 (the larger rows simulate millions of messages: minutes each).
# Runs go to OUT (default results/megatron-table1), one directory a row;
# options after OUT go to every `dtsim run` (e.g. --cfg=network/model:CM02).
set -eu
dtsim=${1:-build/dtsim}
rows=${2:-all}
out=${3:-results/megatron-table1}
shift $(($# < 3 ? $# : 3))
here=$(dirname "$0")
mkdir -p "$out"
# params (billions), heads, hidden, layers, t, p, GPUs, batch, paper TFLOP/s per GPU
table="1.7 24 2304 24 1 1 32 512 137
3.6 32 3072 30 2 1 64 512 138
7.5 32 4096 36 4 1 128 512 142
18.4 48 6144 40 8 1 256 1024 135
39.1 64 8192 48 8 2 512 1536 138
76.1 80 10240 60 8 4 1024 1792 140
145.6 96 12288 80 8 8 1536 2304 148
310.1 128 16384 96 8 16 1920 2160 155
529.6 128 20480 105 8 35 2520 2520 163
1008.0 160 25600 128 8 64 3072 3072 163"
first=1 last=10
if [ "$rows" != all ]; then
    first=${rows%-*}
    last=${rows#*-}
fi
echo "| parameters | t | p | d | GPUs | batch | paper TFLOP/s per GPU | dtsim | error | seconds a step | busiest GPU | wall |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "params_b,t,p,d,gpus,batch,paper_tflops,dtsim_tflops,error,step_seconds,peak_gb,wall_seconds" >"$out/table1.csv"
k=0
while read -r params heads h l t p n B paper; do
    k=$((k + 1))
    [ "$k" -ge "$first" ] && [ "$k" -le "$last" ] || continue
    d=$((n / (t * p)))
    mb=$((B / d)) # sequences a replica takes a step, one per micro-batch
    start=$(date +%s.%N)
    "$dtsim" run "$here/megatron-gpt.ini" --quiet --no-plot --force --out "$out/row-$k" \
        --set model.layers="$l" --set model.d_model="$h" --set model.heads="$heads" \
        --set cluster.workers="$n" --set strategy.dp="$d" --set strategy.pp="$p" \
        --set strategy.tp="$t" --set train.batch="$mb" --set strategy.microbatches="$mb" "$@"
    end=$(date +%s.%N)
    read -r sec peak < <(jq -r '"\(.simulated_seconds / .steps) \([.hosts[].memory_bytes.total] | max / 1e9)"' \
        "$out/row-$k/summary.json")
    awk -v P="$params" -v t="$t" -v p="$p" -v d="$d" -v n="$n" -v B="$B" -v h="$h" -v l="$l" \
        -v paper="$paper" -v sec="$sec" -v peak="$peak" -v t0="$start" -v t1="$end" \
        -v csv="$out/table1.csv" 'BEGIN {
        s = 2048; V = 51200; wall = t1 - t0
        F = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
        got = F / (sec * n) / 1e12
        err = got / paper - 1
        printf "| %sB | %d | %d | %d | %d | %d | %d | %.1f | %+.1f%% | %.3f | %.1f GB | %.0f s |\n",
            P, t, p, d, n, B, paper, got, 100 * err, sec, peak, wall
        printf "%s,%d,%d,%d,%d,%d,%d,%.2f,%.4f,%.6f,%.2f,%.1f\n",
            P, t, p, d, n, B, paper, got, err, sec, peak, wall >> csv
    }'
done <<<"$table"
