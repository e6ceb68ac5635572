#!/usr/bin/env bash
# determinism.sh DTSIM SOURCE_DIR - the same scenario, platform and seed give
# byte-identical metrics.csv, trace.json, saved model, and summary.json
# apart from wall_seconds: on synthetic data, on the shipped Fashion-MNIST
# scenarios cut to a few hundred steps, and for the data-parallel (with
# overlapped buckets, and compressed), parameter-server, collaborative
# (local SGD, gossip, federated averaging with late clients, bagging,
# stacking and boosting ensembles, codistillation) and model-parallel
# (pipeline, tensor, hybrid, and a GPT on a hybrid grid) strategies, 8
# data-parallel workers on the shipped MLP and CNN; whatever OpenBLAS's
# thread count in the environment, alone or in a sweep; and rebuilt from
# summary.json alone.
set -u
dtsim=$1
src=$2
. "$(dirname "$0")/checks.sh"

check() { # check LABEL ARGS...: on 1 thread and on ${second:-3}
    local label=$1 threads=(1 "${second:-3}")
    shift
    for i in 1 2; do
        if ! "$dtsim" run "$@" --quiet --no-plot --out "$tmp/$label-$i" --save-model "$tmp/$label-$i.bin" \
            --threads "${threads[i - 1]}"; then
            bad "run $i of $label"
            return
        fi
        grep -v '"wall_seconds"' "$tmp/$label-$i/summary.json" >"$tmp/$label-$i.summary"
    done
    same "$tmp/$label-1/metrics.csv" "$tmp/$label-2/metrics.csv" "$label"
    same "$tmp/$label-1/trace.json" "$tmp/$label-2/trace.json" "$label"
    same "$tmp/$label-1.summary" "$tmp/$label-2.summary" "$label, summary.json without wall_seconds"
    same "$tmp/$label-1.bin" "$tmp/$label-2.bin" "$label, --save-model"
}

check tiny "$src/tests/scenarios/tiny.ini"
check serial-mlp "$src/scenarios/serial-mlp.ini" --set train.steps=300 --set train.eval_every=100
check serial-cnn "$src/scenarios/serial-cnn.ini" --set train.steps=60 --set train.eval_every=30 \
    --set data.test_samples=1000
check data-parallel "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=4 --set strategy.bucket_mb=0.01
check parameter-server "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.servers=2
check ps-async "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.servers=2 \
    --set strategy.mode=async
check ps-ssp "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.mode=ssp \
    --set strategy.staleness=2 --set "faults.slowdown=gpu1-a100 0.001 0.01 0.01"
check ps-backup "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.backup_workers=2
check dp-balance "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=8 --set strategy.balance=speed
check local-sgd "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=local-sgd --set cluster.workers=5 --set strategy.local_steps=4 \
    --set strategy.warmup_steps=6 --set strategy.allreduce=tree
check gossip "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=gossip --set cluster.workers=6 --set strategy.topology=torus
check federated "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/edge-100.xml" \
    --set strategy.kind=federated --set strategy.clients=20 --set strategy.fraction=0.3 \
    --set strategy.partition=dirichlet --set strategy.round_deadline=2 --set train.rounds=10
check bagging "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=ensemble --set strategy.members=3 --set strategy.member_workers=2 \
    --set strategy.vote=majority
check stacking "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/hetero.xml" \
    --set strategy.kind=ensemble --set strategy.method=stacking \
    --set "strategy.member_models=mlp:32; mlp:16; cnn:2" --set strategy.members=3
check boosting "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=ensemble --set strategy.method=boosting --set strategy.members=3 \
    --set strategy.member_workers=2 --set train.steps=12
check codistill "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=codistill --set cluster.workers=6 --set strategy.groups=3 \
    --set strategy.exchange_every=7
check dp-topk "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=4 --set strategy.bucket_mb=0.01 \
    --set strategy.compress=topk --set strategy.ratio=0.05
check dp-gtopk "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=5 --set strategy.bucket_mb=0.01 \
    --set strategy.compress=gtopk --set strategy.ratio=0.05
check dp-powersgd "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=4 --set strategy.bucket_mb=0.001 \
    --set strategy.compress=powersgd --set strategy.rank=2 --set model.hidden=32,16
check ps-randomk "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=parameter-server --set cluster.workers=4 --set strategy.servers=2 \
    --set strategy.mode=async --set strategy.compress=randomk --set strategy.ratio=0.05
check ps-powersgd "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=parameter-server --set cluster.workers=4 --set strategy.servers=3 \
    --set strategy.mode=ssp --set strategy.staleness=1 --set strategy.compress=powersgd
check dp-fp16 "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=4 --set strategy.compress=fp16
check pipeline "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=pipeline --set cluster.workers=3 --set strategy.stages=3 \
    --set model.hidden=32,16 --set strategy.microbatches=4 --set strategy.schedule=1f1b
check tensor "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/cluster-10gbe.xml" \
    --set strategy.kind=tensor --set cluster.workers=2 --set strategy.tp=2 --set model.hidden=32,16,8
check hybrid "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/dgx-2x8.xml" \
    --set strategy.kind=hybrid --set cluster.workers=8 --set strategy.dp=2 --set strategy.pp=2 \
    --set strategy.tp=2 --set model.hidden=32,16,8 --set strategy.schedule=gpipe
# a GPT over a hybrid grid: the vocabulary-parallel loss, recomputation and
# the update run on the pool with the layers
check gpt-hybrid "$src/tests/scenarios/tiny.ini" --platform "$src/platforms/dgx-2x8.xml" \
    --set model.kind=gpt --set data.dataset=text --set model.layers=2 --set model.d_model=16 \
    --set model.heads=4 --set model.seq_len=16 --set model.vocab=96 --set train.batch=12 \
    --set strategy.kind=hybrid --set cluster.workers=8 --set strategy.dp=2 --set strategy.pp=2 \
    --set strategy.tp=2 --set strategy.microbatches=2 --set train.recompute=full
# 8 data-parallel workers on the shipped MLP and CNN, on 1 and 2 threads:
# the ring's deliveries go to the pool on 2
second=2 check dp8-quickstart "$src/scenarios/quickstart.ini" --set train.steps=150 \
    --set train.eval_every=75 --set data.test_samples=1000
second=2 check dp8-cnn "$src/scenarios/serial-cnn.ini" --set strategy.kind=data-parallel \
    --set cluster.workers=8 --platform "$src/platforms/cluster-10gbe.xml" --set train.batch=16 \
    --set train.steps=6 --set train.eval_every=6 --set data.test_samples=200

# summary.json records every setting in effect: given back as --set options
# to an empty scenario, they make the same run
: >"$tmp/empty.ini"
rebuild() { # rebuild LABEL: rerun LABEL's first run from its summary alone
    local sets=() line
    while IFS= read -r line; do
        sets+=(--set "$line")
    done < <(json "$tmp/$1-1/summary.json" '.settings | to_entries[] | .key as $s | .value |
        to_entries[] | .key as $k | (.value | if type == "array" then .[] else . end) |
        "\($s).\($k)=\(.)"')
    if ! "$dtsim" run "$tmp/empty.ini" "${sets[@]}" --quiet --no-plot --out "$tmp/$1-again" \
        --save-model "$tmp/$1-again.bin" >"$tmp/$1-again.log" 2>&1; then
        bad "$1 from its summary.json: $(tail -1 "$tmp/$1-again.log")"
        return
    fi
    same "$tmp/$1-1/metrics.csv" "$tmp/$1-again/metrics.csv" "$1 rebuilt from summary.json"
    same "$tmp/$1-1/trace.json" "$tmp/$1-again/trace.json" "$1 rebuilt from summary.json"
    same "$tmp/$1-1.bin" "$tmp/$1-again.bin" "$1 rebuilt from summary.json, --save-model"
    json "$tmp/$1-1/summary.json" .settings >"$tmp/$1-settings-1"
    json "$tmp/$1-again/summary.json" .settings >"$tmp/$1-settings-again"
    same "$tmp/$1-settings-1" "$tmp/$1-settings-again" "$1 rebuilt: the same settings"
}
for label in tiny serial-cnn ps-ssp ps-backup hybrid local-sgd federated stacking; do
    rebuild "$label"
done

# Whatever the environment says of OpenBLAS's threads, and run alone or in a
# sweep, the same results: dtsim sets the thread count itself.  The MLP's
# GEMMs are big enough for OpenBLAS to use every thread it may.
mlp=("$src/scenarios/serial-mlp.ini" --set train.steps=100 --set train.eval_every=50
     --set data.test_samples=1000 --quiet --no-plot)
env -u OPENBLAS_NUM_THREADS "$dtsim" run "${mlp[@]}" --out "$tmp/th-unset" \
    --save-model "$tmp/th-unset.bin" || bad "run with OPENBLAS_NUM_THREADS unset"
for t in 1 2; do
    OPENBLAS_NUM_THREADS=$t "$dtsim" run "${mlp[@]}" --out "$tmp/th-$t" \
        --save-model "$tmp/th-$t.bin" || bad "run with OPENBLAS_NUM_THREADS=$t"
    same "$tmp/th-unset/metrics.csv" "$tmp/th-$t/metrics.csv" "OPENBLAS_NUM_THREADS unset and $t"
    same "$tmp/th-unset.bin" "$tmp/th-$t.bin" "OPENBLAS_NUM_THREADS unset and $t, --save-model"
done
OPENBLAS_NUM_THREADS=2 "$dtsim" sweep "$src/scenarios/serial-mlp.ini" --vary train.steps=100 \
    --set train.eval_every=50 --set data.test_samples=1000 --no-plot --jobs 2 \
    --out "$tmp/th-sweep" >/dev/null 2>&1 || bad "sweep of serial-mlp"
same "$tmp/th-unset/metrics.csv" "$tmp/th-sweep/run-000/metrics.csv" "a run and the same in a sweep"
checks_done
