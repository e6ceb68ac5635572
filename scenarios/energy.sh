#!/usr/bin/env bash
# energy.sh [DTSIM [TARGET [OUT]]] - what reaching an accuracy costs in
# joules: energy.ini (the MLP on Fashion-MNIST, 7 workers on the 10 GbE
# cluster of A100 PCIe cards, 35 W idle and 250 W computing) trained by a
# ring all-reduce, by one synchronous parameter server on the eighth node,
# and by the same server asynchronous (energy.ini's header says what to
# look for).  Prints a Markdown table: the simulated seconds and the
# devices' kilojoules when the test accuracy first reaches TARGET (default
# 0.83), the final test accuracy, and the seconds, kilojoules and average
# watts a device of the whole run.  Runs go to OUT (default
# results/energy), one directory per case; with gnuplot, OUT/energy.png
# shows the accuracy against the energy spent.  The devices are the GPU
# boards alone: the hosts' CPUs, NICs and switches would add to each case.
set -eu
dtsim=${1:-build/dtsim}
target=${2:-0.83}
out=${3:-results/energy}
here=$(dirname "$0")
cases="ring ps-sync ps-async"
echo "| strategy | simulated s to $target | kJ to $target | final test accuracy | simulated s in all | kJ in all | W a device |"
echo "|---|---|---|---|---|---|---|"
for c in $cases; do
    case $c in
    ring) set -- ;;
    ps-sync) set -- --set strategy.kind=parameter-server --set strategy.servers=1 ;;
    ps-async) set -- --set strategy.kind=parameter-server --set strategy.servers=1 \
        --set strategy.mode=async ;;
    esac
    "$dtsim" run "$here/energy.ini" --quiet --no-plot --out "$out/$c" "$@"
    reach=$(awk -F, -v t="$target" 'NR > 1 && $6 >= t { printf "%.3f %.3f", $3, $8 / 1000; f = 1; exit }
        END { if (!f) printf "not-reached not-reached" }' "$out/$c/metrics.csv")
    jq -r --arg c "$c" --arg r "$reach" \
        '"\($c) \($r) \(.test_accuracy) \(.simulated_seconds) \(.energy.devices_joules) \(.energy.devices)"' \
        "$out/$c/summary.json" |
        awk '{ printf "| %s | %s | %s | %.4f | %.3f | %.3f | %.1f |\n", $1, $2, $3, $4, $5, $6 / 1000, $6 / $7 / $5 }'
done
if command -v gnuplot >/dev/null; then
    dirs=""
    for c in $cases; do dirs="$dirs $out/$c"; done
    gnuplot -e "dirs='$dirs'; labels='$cases'; out='$out/energy.png'; target=$target; energy=1" \
        -e "plots='$here/../plots'; title='energy.ini: test accuracy against the energy of the devices'" \
        "$here/../plots/curves.gp"
fi
