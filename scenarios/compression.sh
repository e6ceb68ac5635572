#!/usr/bin/env bash
# compression.sh [DTSIM [TARGET [OUT]]] - the quickstart (8 GPUs on 10 GbE,
# data-parallel with a ring all-reduce, 12 epochs of the MLP on
# Fashion-MNIST) with its gradients compressed: none, fp16, bf16, top-k,
# random-k and global top-k of 1%, signSGD and PowerSGD of rank 4, with
# and without error feedback; prints a
# Markdown table: the simulated seconds when the test accuracy first
# reaches TARGET (default 0.87), the final test accuracy, the simulated
# seconds in all, the bytes sent and the compression of each worker's
# messages.  Runs go to OUT (default results/compression), one directory
# per case; with gnuplot, OUT/curves.png shows the accuracy over simulated
# time.
#
# What to look for: the bytes column against the time columns.  This
# ring pays 10 GbE's latency 14 times an all-reduce, so cutting bytes
# saves time only where it also cuts messages: top-k and signSGD trade the
# all-reduce for an all-gather whose traffic grows with the workers,
# global top-k sends k pairs a message up and down a tree (50 times fewer
# bytes), PowerSGD sends two all-reduces of thin factors (35 times fewer
# bytes) and so pays the latency twice.  Then accuracy: error feedback
# is what lets the sparse kinds learn what they leave out.
set -eu
dtsim=${1:-build/dtsim}
target=${2:-0.87}
out=${3:-results/compression}
here=$(dirname "$0")
cases="none fp16 bf16 topk-1%-ef topk-1% gtopk-1%-ef gtopk-1% randomk-1%-ef randomk-1%
    signsgd-ef signsgd powersgd-4-ef powersgd-4"
echo "| compress | simulated s to $target | final test accuracy | simulated s in all | bytes sent | message compression |"
echo "|---|---|---|---|---|---|"
for c in $cases; do
    case $c in
    none) set -- ;;
    fp16 | bf16) set -- --set strategy.compress=$c ;;
    topk-1%-ef) set -- --set strategy.compress=topk --set strategy.ratio=0.01 ;;
    topk-1%) set -- --set strategy.compress=topk --set strategy.ratio=0.01 \
        --set strategy.error_feedback=off ;;
    gtopk-1%-ef) set -- --set strategy.compress=gtopk --set strategy.ratio=0.01 ;;
    gtopk-1%) set -- --set strategy.compress=gtopk --set strategy.ratio=0.01 \
        --set strategy.error_feedback=off ;;
    powersgd-4-ef) set -- --set strategy.compress=powersgd --set strategy.rank=4 ;;
    powersgd-4) set -- --set strategy.compress=powersgd --set strategy.rank=4 \
        --set strategy.error_feedback=off ;;
    randomk-1%-ef) set -- --set strategy.compress=randomk --set strategy.ratio=0.01 ;;
    randomk-1%) set -- --set strategy.compress=randomk --set strategy.ratio=0.01 \
        --set strategy.error_feedback=off ;;
    signsgd-ef) set -- --set strategy.compress=signsgd ;;
    signsgd) set -- --set strategy.compress=signsgd --set strategy.error_feedback=off ;;
    esac
    "$dtsim" run "$here/quickstart.ini" --quiet --no-plot --out "$out/$c" "$@"
    reach=$(awk -F, -v t="$target" 'NR > 1 && $6 >= t { printf "%.3f", $3; f = 1; exit }
        END { if (!f) printf "not reached" }' "$out/$c/metrics.csv")
    jq -r --arg c "$c" --arg r "$reach" '"| \($c) | \($r) | \(.test_accuracy) | \(.simulated_seconds) | \(.bytes_communicated) | \(.compression.compression_ratio // 1) |"' \
        "$out/$c/summary.json" |
        awk -F' [|] ' '{ printf "| %s | %s | %.4f | %.3f | %.3g | %.1f |\n", substr($1, 3), $2, $3, $4, $5, $6 }'
done
if command -v gnuplot >/dev/null; then
    dirs=""
    for c in $cases; do dirs="$dirs $out/$c"; done
    gnuplot -e "dirs='$dirs'; labels='$(echo $cases)'; out='$out/curves.png'; target=$target" \
        -e "plots='$here/../plots'; title='quickstart.ini, gradients compressed: test accuracy'" \
        "$here/../plots/curves.gp"
fi
