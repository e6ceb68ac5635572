#!/usr/bin/env bash
# learning.sh DTSIM SOURCE_DIR - the shipped serial scenarios learn for real
# on the full Fashion-MNIST training set: the MLP 784-256-128-10 reaches at
# least 0.88 test accuracy, the CNN at least 0.90.
set -u
dtsim=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for case in "serial-mlp 0.88" "serial-cnn 0.90"; do
    set -- $case
    name=$1 want=$2
    start=$(date +%s)
    if ! "$dtsim" run "$src/scenarios/$name.ini" --quiet --out "$tmp/$name"; then
        echo "FAILED: $name did not run"
        fail=$((fail + 1))
        continue
    fi
    acc=$(sed -n 's/.*"test_accuracy":[[:space:]]*\([0-9.e-]*\).*/\1/p' "$tmp/$name/summary.json")
    epochs=$(sed -n 's/.*"epochs":[[:space:]]*\([0-9.e-]*\).*/\1/p' "$tmp/$name/summary.json")
    wall=$(($(date +%s) - start))
    if awk -v a="$acc" -v w="$want" 'BEGIN { exit !(a >= w) }'; then
        pass=$((pass + 1))
        echo "ok: $name test accuracy $acc >= $want after $epochs epochs, ${wall}s wall"
    else
        fail=$((fail + 1))
        echo "FAILED: $name test accuracy $acc < $want after $epochs epochs"
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
