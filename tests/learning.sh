#!/usr/bin/env bash
# learning.sh DTSIM SOURCE_DIR - the shipped serial scenarios learn for real
# on the full Fashion-MNIST training set: the MLP 784-256-128-10 reaches at
# least 0.88 test accuracy, the CNN at least 0.90.
set -u
dtsim=$1
src=$2
. "$(dirname "$0")/checks.sh"
for case in "serial-mlp 0.88" "serial-cnn 0.90"; do
    set -- $case
    name=$1 want=$2
    start=$(date +%s)
    if ! "$dtsim" run "$src/scenarios/$name.ini" --quiet --out "$tmp/$name"; then
        bad "$name did not run"
        continue
    fi
    acc=$(json "$tmp/$name/summary.json" .test_accuracy)
    epochs=$(json "$tmp/$name/summary.json" .epochs)
    wall=$(($(date +%s) - start))
    if awk -v a="$acc" -v w="$want" 'BEGIN { exit !(a >= w) }'; then
        ok "$name test accuracy $acc >= $want after $epochs epochs, ${wall}s wall"
    else
        bad "$name test accuracy $acc < $want after $epochs epochs"
    fi
done
checks_done
