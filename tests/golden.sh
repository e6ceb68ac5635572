#!/usr/bin/env bash
# golden.sh DTSIM SOURCE_DIR [--update] - short runs of every strategy,
# compared byte for byte with the results kept in tests/golden/, so that
# any change of results is seen and has to be accepted on purpose (rerun
# with --update, and say in the commit why the results changed).
#
# Each run keeps metrics.csv, summary.json less wall_seconds, and the
# SHA-256 of its saved parameters and of its trace.json.  Float results
# (losses, accuracies, parameters) depend on the BLAS kernels the processor
# gets (tests/golden/KERNELS says which made the golden files) and on the
# thread count (dtsim computes on one); simulated times, bytes and spans do not.  On a
# processor whose kernels differ, only those are compared: metrics.csv
# without its loss and accuracy columns, summary.json without the BLAS's
# name and the fields computed from parameters (losses, accuracies,
# consensus distances), and trace.json.
set -u
dtsim=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
update=${3:-}
. "$src/tests/checks.sh"
golden=$src/tests/golden

kernels=$("$dtsim" --version | sed -n 's/.*, \(.*\) kernels$/\1/p')
cd "$src" || exit 1 # relative paths, so summary.json names no directory of this machine

tiny=tests/scenarios/tiny.ini
hetero=(--platform platforms/hetero.xml)
ten=(--platform platforms/cluster-10gbe.xml)
small=(--set model.hidden=32,16,8)
# name, then the arguments of its run
runs=(
    "serial"
    "serial-cnn --set model.kind=cnn --set model.channels=4,6 --set model.hidden=16"
    "data-parallel ${ten[*]} --set strategy.kind=data-parallel --set cluster.workers=4 --set strategy.bucket_mb=0.01"
    "dp-topk ${ten[*]} --set strategy.kind=data-parallel --set cluster.workers=4 --set strategy.bucket_mb=0.01 --set strategy.compress=topk --set strategy.ratio=0.05"
    "dp-balance ${hetero[*]} --set strategy.kind=data-parallel --set cluster.workers=8 --set strategy.balance=speed --set strategy.allreduce=tree"
    "ps-sync ${hetero[*]} --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.servers=2"
    "ps-async ${hetero[*]} --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.mode=async"
    "ps-ssp ${hetero[*]} --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.mode=ssp --set strategy.staleness=2 --set faults.slowdown=gpu1-a100:0.001:0.01:0.01"
    "ps-backup ${hetero[*]} --set strategy.kind=parameter-server --set cluster.workers=5 --set strategy.backup_workers=2"
    "pipeline ${ten[*]} --set strategy.kind=pipeline --set cluster.workers=3 --set strategy.stages=3 ${small[*]} --set strategy.microbatches=4"
    "tensor ${ten[*]} --set strategy.kind=tensor --set cluster.workers=2 ${small[*]}"
    "hybrid --platform platforms/dgx-2x8.xml --set strategy.kind=hybrid --set cluster.workers=8 --set strategy.dp=2 --set strategy.pp=2 --set strategy.tp=2 ${small[*]} --set strategy.overlap=on --set strategy.bucket_mb=0.001"
    "local-sgd ${ten[*]} --set strategy.kind=local-sgd --set cluster.workers=4 --set strategy.local_steps=3 --set strategy.warmup_steps=5 --set strategy.allreduce=rhd"
    "gossip ${ten[*]} --set strategy.kind=gossip --set cluster.workers=6 --set strategy.topology=torus"
    "federated --platform platforms/edge-100.xml --set strategy.kind=federated --set strategy.clients=10 --set strategy.fraction=0.5 --set strategy.partition=shards --set strategy.round_deadline=1.5 --set train.rounds=8 --set train.eval_every=2"
    "bagging ${ten[*]} --set strategy.kind=ensemble --set strategy.members=3 --set strategy.member_workers=2 --set strategy.vote=majority"
    "boosting ${ten[*]} --set strategy.kind=ensemble --set strategy.method=boosting --set strategy.members=3 --set strategy.member_workers=2 --set train.steps=12"
    "codistill ${ten[*]} --set strategy.kind=codistill --set cluster.workers=4 --set strategy.exchange_every=6"
    "resmlp ${ten[*]} --set model.kind=resmlp --set model.width=16 --set strategy.kind=pipeline --set cluster.workers=2 --set strategy.schedule=gpipe"
)

# The parts of a run's results that do not depend on float arithmetic.
timing_only() { # timing_only DIR OUT
    cut -d, -f1-3,7 "$1/metrics.csv" >"$2.metrics"
    jq 'del(.final_loss, .test_loss, .test_accuracy, .blas, .federated.rounds[]?.test_accuracy,
        .gossip.consensus[]?.distance, .measures.consensus_distance)' "$1/summary.json" >"$2.summary"
    grep trace "$1/checksums" >"$2.trace"
}

# as_golden WANT GOT LABEL: byte for byte, or the first lines that differ
as_golden() {
    if cmp -s "$1" "$2"; then
        ok "$3 as golden"
    else
        bad "$3 differs from tests/golden:"
        diff "$1" "$2" | head -6 | sed 's/^/    /'
    fi
}

# Run one case into DIR: metrics.csv, summary.json, checksums.
golden_run() { # golden_run DIR NAME ARGS...
    local dir=$1 name=$2
    shift 2
    mkdir -p "$dir"
    # a slowdown's spaces are colons in the list above
    local args=("${@//:/ }")
    if ! "$dtsim" run "$tiny" --quiet --no-plot --force --out "$tmp/out-$name" \
        --save-model "$tmp/$name.bin" "${args[@]}" >"$tmp/$name.log" 2>&1; then
        bad "$name did not run: $(tail -1 "$tmp/$name.log")"
        return 1
    fi
    cp "$tmp/out-$name/metrics.csv" "$dir/metrics.csv"
    jq 'del(.wall_seconds)' "$tmp/out-$name/summary.json" >"$dir/summary.json"
    {
        echo "parameters $(sha256sum <"$tmp/$name.bin" | cut -d' ' -f1)"
        echo "trace $(sha256sum <"$tmp/out-$name/trace.json" | cut -d' ' -f1)"
    } >"$dir/checksums"
}

if [ "$update" = --update ]; then
    rm -rf "$golden"
    mkdir -p "$golden"
    echo "$kernels" >"$golden/KERNELS"
    for r in "${runs[@]}"; do
        read -ra a <<<"$r"
        golden_run "$golden/${a[0]}" "${a[@]}" && ok "${a[0]}: golden results written"
    done
    checks_done
    exit
fi

same_kernels=0
[ "$kernels" = "$(cat "$golden/KERNELS" 2>/dev/null)" ] && same_kernels=1
[ $same_kernels = 1 ] ||
    echo "note: golden results made with $(cat "$golden/KERNELS") kernels, this machine has" \
        "$kernels: comparing simulated times, bytes and spans only"
for r in "${runs[@]}"; do
    read -ra a <<<"$r"
    name=${a[0]}
    golden_run "$tmp/now/$name" "${a[@]}" || continue
    if [ $same_kernels = 1 ]; then
        for f in metrics.csv summary.json checksums; do
            as_golden "$golden/$name/$f" "$tmp/now/$name/$f" "$name: $f"
        done
    else
        timing_only "$golden/$name" "$tmp/want"
        timing_only "$tmp/now/$name" "$tmp/got"
        for part in metrics summary trace; do
            as_golden "$tmp/want.$part" "$tmp/got.$part" "$name: $part (timing)"
        done
    fi
done
checks_done
