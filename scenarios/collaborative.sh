#!/usr/bin/env bash
# collaborative.sh [DTSIM [TARGET [OUT]]] - scenarios/collaborative.ini (8
# GPUs in two data centres joined by a slow WAN, 5 epochs of the MLP on
# Fashion-MNIST) run as synchronous data-parallel, local SGD with H = 1, 4
# and 16, gossip on a ring and federated averaging (the server on one host
# and 7 clients, every client every round, one local epoch a round, 5
# rounds) and codistillation (a group of four in each data centre, their
# parameters swapped every 50 steps; group 0's accuracy); prints a
# Markdown table: simulated seconds when the test accuracy first reaches
# TARGET (default 0.85), the final accuracy, the simulated seconds in all
# and the bytes sent.  Runs go to OUT (default
# results/collaborative), one directory per method; with gnuplot,
# OUT/curves.png shows the accuracy curves over simulated time (a
# logarithmic axis: the methods differ by orders of magnitude) and the
# target.
set -eu
dtsim=${1:-build/dtsim}
target=${2:-0.85}
out=${3:-results/collaborative}
here=$(dirname "$0")
methods="data-parallel local-sgd-1 local-sgd-4 local-sgd-16 gossip-ring fedavg codistill"
echo "| method | simulated s to $target | final test accuracy | simulated s in all | bytes sent |"
echo "|---|---|---|---|---|"
for m in $methods; do
    case $m in
    data-parallel) set -- ;;
    local-sgd-*) set -- --set strategy.kind=local-sgd --set strategy.local_steps=${m#local-sgd-} ;;
    gossip-ring) set -- --set strategy.kind=gossip --set strategy.topology=ring ;;
    fedavg) set -- --set strategy.kind=federated --set strategy.clients=7 \
        --set strategy.fraction=1 --set train.rounds=5 --set train.eval_every=1 ;;
    codistill) set -- --set strategy.kind=codistill --set strategy.groups=2 \
        --set strategy.exchange_every=50 ;;
    esac
    "$dtsim" run "$here/collaborative.ini" --quiet --no-plot --out "$out/$m" "$@"
    reach=$(awk -F, -v t="$target" 'NR > 1 && $6 >= t { printf "%.3f", $3; f = 1; exit }
        END { if (!f) printf "not reached" }' "$out/$m/metrics.csv")
    last=$(tail -1 "$out/$m/metrics.csv" | awk -F, '{ printf "%.4f | %.3f", $6, $3 }')
    bytes=$(jq -r .bytes_communicated "$out/$m/summary.json" | awk '{ printf "%.3g", $1 }')
    echo "| $m | $reach | $last | $bytes |"
done
if command -v gnuplot >/dev/null; then
    dirs=""
    for m in $methods; do dirs="$dirs $out/$m"; done
    gnuplot -e "dirs='$dirs'; labels='$methods'; out='$out/curves.png'" \
        -e "target=$target; logx=1; plots='$here/../plots'" \
        -e "title='collaborative.ini on two-dc.xml: test accuracy over simulated time'" \
        "$here/../plots/curves.gp"
fi
