#!/usr/bin/env bash
# gpipe-table2.sh [DTSIM [OUT]] - Table 2 of Huang et al. 2019 ("GPipe:
# Efficient Training of Giant Neural Networks using Pipeline
# Parallelism"), its Transformer-48 column, rerun by dtsim in cost mode
# with scenarios/gpipe-transformer.ini: the normalised training throughput
# for K = 2, 4, 8 partitions and M = 1, 4, 32 micro-batches, each step's
# samples per simulated second over those of K = 2, M = 1.  Prints a
# Markdown table with the paper's figures for M = 32 (1.8, 3.4, 6.3) beside
# dtsim's and the relative error, and the bubble's closed form
# K M / (M + K - 1) (what an ideal network would give); OUT/table2.csv
# (default results/gpipe-table2) has the same.
set -eu
dtsim=${1:-build/dtsim}
out=${2:-results/gpipe-table2}
here=$(dirname "$0")
mkdir -p "$out"
seconds() { # seconds K M: the simulated seconds of the scenario's steps
    "$dtsim" run "$here/gpipe-transformer.ini" --quiet --no-plot --force --out "$out/k$1-m$2" \
        --set cluster.workers="$1" --set strategy.stages="$1" --set strategy.microbatches="$2" \
        >/dev/null
    jq .simulated_seconds "$out/k$1-m$2/summary.json"
}
base=$(seconds 2 1)
echo "| K | M | paper | dtsim | error | closed form K M / (M + K - 1) |"
echo "|---|---|---|---|---|---|"
echo "k,m,paper,dtsim,error,closed_form" >"$out/table2.csv"
for k in 2 4 8; do
    for m in 1 4 32; do
        s=$([ "$k$m" = 21 ] && echo "$base" || seconds "$k" "$m")
        paper=""
        [ "$m" = 32 ] && paper=$(case $k in 2) echo 1.8 ;; 4) echo 3.4 ;; 8) echo 6.3 ;; esac)
        awk -v k="$k" -v m="$m" -v s="$s" -v b="$base" -v p="$paper" -v csv="$out/table2.csv" 'BEGIN {
            d = b / s
            closed = k * m / (m + k - 1)
            err = p == "" ? "" : sprintf("%+.1f%%", 100 * (d - p) / p)
            printf "| %d | %d | %s | %.2f | %s | %.2f |\n", k, m, p == "" ? "-" : p, d, err == "" ? "-" : err, closed
            printf "%d,%d,%s,%.4f,%s,%.4f\n", k, m, p, d, err, closed >>csv
        }'
    done
done
