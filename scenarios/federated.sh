#!/usr/bin/env bash
# federated.sh [DTSIM [TARGET [OUT]]] - scenarios/federated.ini (FedAvg, 100
# phones of edge-100.xml, 10 a round, 30 rounds) run with the training set
# split iid, by Dirichlet(0.5) label shares and by label shards (two labels
# a client, non-iid), and iid with a 3 s round deadline; prints a Markdown
# table: the round and the simulated seconds when the test accuracy first
# reaches TARGET (default 0.80), the final accuracy, the uploads that
# missed their round and the simulated seconds in all.  Runs go to OUT
# (default results/federated), one directory per case; with gnuplot,
# OUT/rounds.png shows the accuracy over rounds and OUT/curves.png over
# simulated time.
set -eu
dtsim=${1:-build/dtsim}
target=${2:-0.80}
out=${3:-results/federated}
here=$(dirname "$0")
cases="iid dirichlet-0.5 shards iid-deadline-3"
echo "| partition | round reaching $target | simulated s then | final test accuracy | late uploads | simulated s in all |"
echo "|---|---|---|---|---|---|"
for c in $cases; do
    case $c in
    iid) set -- ;;
    dirichlet-*) set -- --set strategy.partition=dirichlet --set strategy.alpha=${c#dirichlet-} ;;
    shards) set -- --set strategy.partition=shards ;;
    iid-deadline-*) set -- --set strategy.round_deadline=${c#iid-deadline-} ;;
    esac
    "$dtsim" run "$here/federated.ini" --quiet --no-plot --out "$out/$c" "$@"
    reach=$(awk -F, -v t="$target" 'NR > 1 && $6 >= t { printf "%d | %.3f", $1, $3; f = 1; exit }
        END { if (!f) printf "not reached | -" }' "$out/$c/metrics.csv")
    last=$(tail -1 "$out/$c/metrics.csv" | awk -F, '{ printf "%.4f", $6 }')
    facts=$(jq -r '"\(.federated.late_uploads) \(.simulated_seconds)"' "$out/$c/summary.json" |
        awk '{ printf "%d | %.3f", $1, $2 }')
    echo "| $c | $reach | $last | $facts |"
done
if command -v gnuplot >/dev/null; then
    dirs=""
    for c in $cases; do dirs="$dirs $out/$c"; done
    plot() { # plot PNG ARGS...: the curves of every case
        gnuplot -e "dirs='$dirs'; labels='$cases'; out='$out/$1'; target=$target" \
            -e "plots='$here/../plots'; title='federated.ini on edge-100.xml: test accuracy'" \
            "${@:2}" "$here/../plots/curves.gp"
    }
    plot rounds.png -e rounds=1
    plot curves.png
fi
