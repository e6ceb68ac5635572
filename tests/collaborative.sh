#!/usr/bin/env bash
# collaborative.sh DTSIM SOURCE_DIR - the learning effects the literature
# reports for the collaborative strategies, on small synthetic runs (a few
# seconds each; the README measures them on Fashion-MNIST): a bagging
# ensemble is at least as accurate as its members' mean, and a stacked
# one too; boosting's ensemble training error falls as weak members are
# added; federated averaging needs more rounds to reach an accuracy when
# each client holds two labels (shards) than when the data is iid, and
# goes on without a client that a [faults] slowdown makes miss the round
# deadline.
set -u
dtsim=$1
src=$2
. "$(dirname "$0")/checks.sh"
tiny=$src/tests/scenarios/tiny.ini
plat=$src/tests/platforms/ideal-64.xml

run() { # run NAME ARGS...
    local name=$1
    shift
    if ! "$dtsim" run "$tiny" --platform "$plat" --quiet --no-plot --out "$tmp/$name" "$@" \
        >"$tmp/$name.log" 2>&1; then
        bad "run $name: $(tail -1 "$tmp/$name.log")"
        return 1
    fi
}
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

ens=(--set strategy.kind=ensemble)
for method in bagging stacking; do
    if run "$method" "${ens[@]}" --set strategy.method=$method; then
        read -r acc mean <<<"$(json "$tmp/$method/summary.json" \
            '"\(.test_accuracy) \(.ensemble.mean_member_accuracy)"')"
        if above "$acc" "$mean"; then
            ok "$method: the ensemble's test accuracy $acc, its 4 members' mean $mean"
        else
            bad "$method: the ensemble's test accuracy $acc, below its members' mean $mean"
        fi
    fi
done

# boosting: 20 weak members (10 steps of a hidden layer of 8) on 2000
# samples
if run boosting "${ens[@]}" --set strategy.method=boosting --set strategy.members=20 \
    --set train.steps=10 --set model.hidden=8 --set data.train_samples=2000 --set data.noise=2; then
    errors=$(json "$tmp/boosting/summary.json" '[.ensemble.member[].ensemble_train_error] | "\(.[0]) \(.[4]) \(.[9]) \(.[19])"')
    if awk -v e="$errors" 'BEGIN { n = split(e, x, " "); exit !(x[2] < x[1] && x[3] < x[2] &&
        x[4] < x[3] && x[4] < x[1] / 4) }'; then
        ok "boosting: the ensemble's training error after 1, 5, 10, 20 members: $errors"
    else
        bad "boosting: the ensemble's training error after 1, 5, 10, 20 members does not fall: $errors"
    fi
fi

# FedAvg: rounds to 0.95 test accuracy, iid against two labels a client
fed=(--set strategy.kind=federated --set strategy.clients=20 --set strategy.fraction=0.25
     --set strategy.local_epochs=3 --set train.batch=8 --set train.rounds=30
     --set train.eval_every=1 --set data.train_samples=2000 --set data.noise=2)
reach() { awk -F, 'NR > 1 && $6 >= 0.95 { print $1; exit }' "$tmp/$1/metrics.csv"; }
if run fed-iid "${fed[@]}" && run fed-shards "${fed[@]}" --set strategy.partition=shards; then
    i=$(reach fed-iid)
    s=$(reach fed-shards)
    if [ -n "$i" ] && [ -n "$s" ] && [ "$s" -gt "$i" ]; then
        ok "federated: 0.95 test accuracy in round $i with iid data, round $s with shards"
    else
        bad "federated: 0.95 test accuracy in round '${i:-never}' with iid data, '${s:-never}' with shards"
    fi
fi
# FedAvg with a client slowed to 1% of its speed by [faults] and a round
# deadline: every round goes on without it, and its late uploads are
# dropped
if run fed-late --set strategy.kind=federated --set strategy.clients=4 --set strategy.fraction=1 \
    --set train.rounds=5 --set "faults.slowdown=node-3 0 1000 0.01" \
    --set strategy.round_deadline=0.05; then
    got=$(json "$tmp/fed-late/summary.json" '"\([.federated.rounds[].took_part] | join(",")) \(.federated.late_uploads) \([.federated.rounds[] | .end_seconds - .start_seconds] | max)"')
    if [[ $got =~ ^3,3,3,3,3\ 5\ 0\.050[0-9]*$ ]]; then
        ok "federated: a slowed client misses every 0.05 s deadline (clients a round, late uploads, longest round: $got)"
    else
        bad "federated: with a slowed client and a 0.05 s deadline: $got"
    fi
fi
checks_done
