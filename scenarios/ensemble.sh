#!/usr/bin/env bash
# ensemble.sh [DTSIM [OUT]] - scenarios/ensemble.ini (four MLPs on
# Fashion-MNIST, 3 epochs each, on the 10 GbE cluster) run as bagging
# (averaged probabilities, then majority vote), stacking (the same four
# members, then four different ones: mlp:256,128; mlp:64; cnn:8,16;
# mlp:512) and boosting; prints a Markdown table: the ensemble's test
# accuracy, its members' mean and best, and the simulated seconds.  Runs
# go to OUT (default results/ensemble), one directory per case.
set -eu
dtsim=${1:-build/dtsim}
out=${2:-results/ensemble}
here=$(dirname "$0")
echo "| method | ensemble test accuracy | members' mean | best member | simulated s |"
echo "|---|---|---|---|---|"
for c in bagging bagging-majority stacking stacking-mixed boosting; do
    case $c in
    bagging) set -- ;;
    bagging-majority) set -- --set strategy.vote=majority ;;
    stacking) set -- --set strategy.method=stacking ;;
    stacking-mixed) set -- --set strategy.method=stacking \
        --set "strategy.member_models=mlp:256,128; mlp:64; cnn:8,16; mlp:512" ;;
    boosting) set -- --set strategy.method=boosting ;;
    esac
    "$dtsim" run "$here/ensemble.ini" --quiet --no-plot --out "$out/$c" "$@"
    jq -r --arg c "$c" '"| \($c) | \(.test_accuracy) | \(.ensemble.mean_member_accuracy) | \([.ensemble.member[].test_accuracy] | max) | \(.simulated_seconds) |"' \
        "$out/$c/summary.json" |
        awk -F' [|] ' '{ printf "| %s | %.4f | %.4f | %.4f | %.4f |\n", substr($1, 3), $2, $3, $4, $5 }'
done
