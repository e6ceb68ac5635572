#!/usr/bin/env bash
# equivalence.sh DTSIM MODEL_DIFF SOURCE_DIR - synchronous strategies give
# the parameters of serial SGD on the same global batch: data-parallel with
# N workers of batch b, for every all-reduce algorithm (the hierarchical
# ones on 2 nodes of 4, tests/platforms/ideal-nodes-4x4.xml), with and
# without overlap, and the synchronous parameter server, against a serial
# run of batch N*b, after the same number of steps (relative difference
# < 1e-5);
# for the MLP, the CNN, a residual MLP, a GPT and a ResNet (whose batch
# norm makes serial's reference bn_group = b); and local SGD against
# data-parallel (H = 1, or warm-up only) and its bytes (1/H); gossip on the
# complete graph against local SGD with H = 1, its bytes (degree x
# parameters a worker a step) and its consensus distance (falling from
# ring to torus to exponential to complete); federated averaging with every
# client, one local step on its whole part, against data-parallel on the
# whole set, and its bytes (2 x the model per client per round); bagging
# with one member and no bootstrap against serial, and with its member on
# two devices against data-parallel.
set -u
dtsim=$1
model_diff=$2
src=$3
. "$(dirname "$0")/checks.sh"
b=8
steps=12
plat=$src/tests/platforms/ideal-64.xml
nodes=$src/tests/platforms/ideal-nodes-4x4.xml
common=(--quiet --no-plot --set train.steps=$steps --set train.eval_every=$steps
        --set train.batch=$b)

run() { # run NAME ARGS...: saves the model to $tmp/NAME.bin
    local name=$1
    shift
    if ! "$dtsim" run "$src/tests/scenarios/tiny.ini" "${common[@]}" "$@" --out "$tmp/$name" \
        --save-model "$tmp/$name.bin" >"$tmp/$name.log" 2>&1; then
        bad "run $name: $(tail -1 "$tmp/$name.log")"
        return 1
    fi
}

compare() { # compare SERIAL OTHER LABEL
    local out
    if out=$("$model_diff" "$tmp/$1.bin" "$tmp/$2.bin" 1e-5); then
        ok "$3: $out"
    else
        bad "$3: $out"
    fi
}

# four_workers SERIAL TAG LABEL "ALGOS" ARGS...: data-parallel on 4 workers
# with each all-reduce of ALGOS, overlap off and on, then the parameter
# server with 2 servers, each against the serial run SERIAL
four_workers() {
    local serial=$1 tag=$2 label=$3 algos=$4 algo overlap name
    shift 4
    for algo in $algos; do
        for overlap in off on; do
            name=dp-$tag-$algo-$overlap
            run "$name" "$@" --platform "$plat" --set strategy.kind=data-parallel \
                --set cluster.workers=4 --set strategy.allreduce=$algo \
                --set strategy.overlap=$overlap --set strategy.bucket_mb=0.001 &&
                compare "$serial" "$name" "$label data-parallel N=4 $algo overlap $overlap"
        done
    done
    run "ps-$tag" "$@" --platform "$plat" --set strategy.kind=parameter-server \
        --set cluster.workers=4 --set strategy.servers=2 &&
        compare "$serial" "ps-$tag" "$label parameter-server N=4 servers=2"
}

for model in mlp cnn; do
    m=()
    [ "$model" = cnn ] && m=(--set model.kind=cnn --set model.channels=4,6 --set model.hidden=16)
    for n in 2 3 4 8; do
        serial=serial-$model-$n
        run "$serial" "${m[@]}" --set train.batch=$((n * b)) || continue
        for algo in ring rhd tree ps; do
            [ "$algo" = rhd ] && [ $((n & (n - 1))) -ne 0 ] && continue
            for overlap in off on; do
                name=dp-$model-$n-$algo-$overlap
                run "$name" "${m[@]}" --platform "$plat" --set strategy.kind=data-parallel \
                    --set cluster.workers=$n --set strategy.allreduce=$algo \
                    --set strategy.overlap=$overlap --set strategy.bucket_mb=0.001 &&
                    compare "$serial" "$name" "$model data-parallel N=$n $algo overlap $overlap"
            done
        done
        for algo in hierarchical hierarchical-rhd; do
            [ "$n" = 8 ] || continue
            for overlap in off on; do
                name=dp-$model-$n-$algo-$overlap
                run "$name" "${m[@]}" --platform "$nodes" --set strategy.kind=data-parallel \
                    --set cluster.workers=$n --set strategy.allreduce=$algo \
                    --set strategy.overlap=$overlap --set strategy.bucket_mb=0.001 &&
                    compare "$serial" "$name" \
                        "$model data-parallel N=$n (2 nodes of 4) $algo overlap $overlap"
            done
        done
        for servers in 1 3; do
            name=ps-$model-$n-$servers
            run "$name" "${m[@]}" --platform "$plat" --set strategy.kind=parameter-server \
                --set cluster.workers=$n --set strategy.servers=$servers &&
                compare "$serial" "$name" "$model parameter-server N=$n servers=$servers"
        done
    done
done
# a residual model (its gradient buffers and adds) under every all-reduce
res=(--set model.kind=resmlp --set model.width=16 --set model.blocks=2)
run serial-res-4 "${res[@]}" --set train.batch=$((4 * b)) &&
    four_workers serial-res-4 res resmlp "ring rhd tree ps" "${res[@]}"
# a GPT on text: every all-reduce, overlap, the synchronous parameter server
gpt=(--set model.kind=gpt --set data.dataset=text --set model.layers=2 --set model.d_model=16
     --set model.heads=2 --set model.seq_len=16)
run serial-gpt-4 "${gpt[@]}" --set train.batch=$((4 * b)) &&
    four_workers serial-gpt-4 gpt gpt "ring rhd tree" "${gpt[@]}"
# a ResNet: each worker's batch norm takes the statistics of its own b
# samples (as DDP without SyncBatchNorm), which is serial training on the
# global batch with bn_group = b
rn=(--set model.kind=resnet --set model.blocks=1,1 --set model.widths=4,8)
run serial-rn-4 "${rn[@]}" --set train.batch=$((4 * b)) --set model.bn_group=$b &&
    four_workers serial-rn-4 rn resnet "ring rhd tree" "${rn[@]}"
# tied embeddings: the output projection's gradient adds to the embedding's
# (its own layer holds no parameters: the buckets must not start there)
tie=("${gpt[@]}" --set model.tie_embeddings=on)
run serial-tie-4 "${tie[@]}" --set train.batch=$((4 * b)) &&
    for overlap in off on; do
        run "dp-tie-$overlap" "${tie[@]}" --platform "$plat" --set strategy.kind=data-parallel \
            --set cluster.workers=4 --set strategy.overlap=$overlap --set strategy.bucket_mb=0.001 &&
            compare serial-tie-4 "dp-tie-$overlap" "gpt tie_embeddings data-parallel overlap $overlap"
    done
# local SGD: with H = 1 and plain SGD it is data-parallel; with warm-up
# only, it is data-parallel whatever H; it sends 1/H of the bytes
sgd=(--set train.momentum=0 --set cluster.workers=4 --platform "$plat")
run dp-sgd-4 "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off &&
    for h in 1 4; do
        run "local-$h" "${sgd[@]}" --set strategy.kind=local-sgd --set strategy.local_steps=$h
    done &&
    run local-warm "${sgd[@]}" --set strategy.kind=local-sgd --set strategy.local_steps=3 \
        --set strategy.warmup_steps=$steps &&
    compare dp-sgd-4 local-1 "local-sgd H=1 N=4 against data-parallel" &&
    compare dp-sgd-4 local-warm "local-sgd warm-up all $steps steps against data-parallel" &&
    {
        dp=$(json "$tmp/dp-sgd-4/summary.json" .bytes_communicated)
        l4=$(json "$tmp/local-4/summary.json" .bytes_communicated)
        n4=$(json "$tmp/local-4/summary.json" .local_sgd.averagings)
        if [ "$((l4 * 4))" = "$dp" ] && [ "$n4" = $((steps / 4)) ]; then
            ok "local-sgd H=4 sends $l4 bytes, 1/4 of data-parallel's $dp, in $n4 averagings"
        else
            bad "local-sgd H=4 sends $l4 bytes in $n4 averagings; data-parallel $dp"
        fi
    }
# gossip: on the complete graph every worker averages all, which is local
# SGD with H = 1; each worker sends degree x parameter bytes a step; the
# consensus distance falls as the graph gets denser
run gossip-complete "${sgd[@]}" --set strategy.kind=gossip --set strategy.topology=complete &&
    compare local-1 gossip-complete "gossip complete N=4 against local-sgd H=1"
params=$(json "$tmp/gossip-complete/summary.json" .parameters)
last=""
for topo in ring torus exponential complete; do
    run "gossip8-$topo" --set train.momentum=0 --set cluster.workers=8 --platform "$plat" \
        --set strategy.kind=gossip --set strategy.topology=$topo || continue
    sum=$tmp/gossip8-$topo/summary.json
    bytes=$(json "$sum" .measures.bytes_per_step)
    deg=$(json "$sum" '[.gossip.min_degree, .gossip.max_degree] | "\(.[0]) \(.[1])"')
    want=$((8 * ${deg% *} * params * 4))
    if [ "${deg% *}" = "${deg#* }" ] && [ "$bytes" = "$want" ]; then
        ok "gossip $topo on 8: $bytes bytes a step = 8 workers x ${deg% *} neighbours x $params x 4"
    else
        bad "gossip $topo on 8: $bytes bytes a step (degrees $deg), wanted $want"
    fi
    dist=$(json "$sum" '.gossip.consensus[-1].distance')
    if [ -z "$last" ] || awk -v a="$dist" -v b="$last" 'BEGIN { exit !(a < b) }'; then
        ok "gossip $topo on 8: consensus distance $dist${last:+, below the sparser graph ($last)}"
    else
        bad "gossip $topo on 8: consensus distance $dist, not below the sparser graph ($last)"
    fi
    last=$dist
done
# FedAvg: every client every round, one local step on each client's whole
# (equal, iid) part, is data-parallel on the whole training set (512
# samples: 4 clients of 128); each round sends the model down to and up
# from every client taking part
fed=(--set train.momentum=0 --platform "$plat" --set strategy.kind=federated
     --set strategy.clients=4 --set train.batch=128)
run dp-full-4 --set train.momentum=0 --platform "$plat" --set strategy.kind=data-parallel \
    --set cluster.workers=4 --set train.batch=128 &&
    run fed-full-4 "${fed[@]}" --set strategy.fraction=1 --set train.rounds=$steps &&
    compare dp-full-4 fed-full-4 "federated C=1 E=1 B=part K=4 against data-parallel on the whole set"
for frac in 1 0.5; do
    run "fed-bytes-$frac" "${fed[@]}" --set strategy.fraction=$frac \
        --set train.rounds=$steps || continue
    sum=$tmp/fed-bytes-$frac/summary.json
    bytes=$(json "$sum" .bytes_communicated)
    m=$(json "$sum" .federated.clients_per_round)
    params=$(json "$sum" .parameters)
    want=$((steps * m * 2 * params * 4))
    if [ "$bytes" = "$want" ] && [ "$m" = "$(awk -v f=$frac 'BEGIN { print int(4 * f) }')" ]; then
        ok "federated C=$frac: $bytes bytes = $steps rounds x $m clients x 2 x $params x 4"
    else
        bad "federated C=$frac: $bytes bytes with $m clients a round; wanted $want"
    fi
done
# ensembles: bagging with one member and no bootstrap is serial training;
# with its member on two devices, data-parallel on two workers
ens=(--platform "$plat" --set strategy.kind=ensemble --set strategy.members=1
     --set strategy.bootstrap=off)
run serial-ens "${sgd[@]}" --set cluster.workers=1 &&
    run bag1 "${sgd[@]}" "${ens[@]}" &&
    compare serial-ens bag1 "ensemble bagging, one member, no bootstrap, against serial"
run dp-ens-2 "${sgd[@]}" --set strategy.kind=data-parallel --set cluster.workers=2 \
    --set strategy.overlap=off &&
    run bag1-w2 "${sgd[@]}" "${ens[@]}" --set strategy.member_workers=2 &&
    compare dp-ens-2 bag1-w2 "ensemble bagging, one member on two devices, against data-parallel"
# codistillation with no distillation term: each group is data-parallel
# on its own (group 0 from the scenario's seed); the groups' first devices
# swap parameters every exchange_every steps, and nothing else crosses
run cod-0 "${sgd[@]}" --set strategy.kind=codistill --set strategy.groups=2 \
    --set strategy.distill_weight=0 --set strategy.exchange_every=5 &&
    run dp-cod-2 "${sgd[@]}" --set strategy.kind=data-parallel --set cluster.workers=2 \
        --set strategy.overlap=off &&
    compare dp-cod-2 cod-0 "codistill distill_weight 0, group 0 of 2 workers, against data-parallel" &&
    {
        between=$(json "$tmp/cod-0/summary.json" .codistill.bytes_between_groups)
        params=$(json "$tmp/cod-0/summary.json" .parameters)
        want=$(((steps - 1) / 5 * 2 * params * 4))
        if [ "$between" = "$want" ]; then
            ok "codistill: $between bytes between groups = $(((steps - 1) / 5)) exchanges x 2 groups x 1 peer x $params x 4"
        else
            bad "codistill: $between bytes between groups, wanted $want"
        fi
    }
# gradient compression: top-k of every coordinate without error feedback
# sends the whole gradient and sums it in worker order: data-parallel;
# fp16 halves every message; top-k's all-gather carries every worker's
# (index, value) pairs to every other, 8 bytes a pair
run dp-none-4 "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off &&
    run topk-all "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
        --set strategy.compress=topk --set strategy.ratio=1 --set strategy.error_feedback=off &&
    compare dp-none-4 topk-all "data-parallel compress = topk, ratio 1, no error feedback, against none"
none=$(json "$tmp/dp-none-4/summary.json" .bytes_communicated)
params=$(json "$tmp/dp-none-4/summary.json" .parameters)
if run dp-fp16 "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=fp16; then
    half=$(json "$tmp/dp-fp16/summary.json" .bytes_communicated)
    if [ "$((2 * half))" = "$none" ]; then
        ok "data-parallel compress = fp16: $half bytes, half of none's $none"
    else
        bad "data-parallel compress = fp16: $half bytes; none: $none"
    fi
fi
if run dp-topk "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=topk --set strategy.ratio=0.01; then
    k=$((params / 100))
    got=$(json "$tmp/dp-topk/summary.json" .bytes_communicated)
    want=$((steps * 4 * 3 * 8 * k))
    if [ "$got" = "$want" ]; then
        ok "data-parallel compress = topk 1%: $got bytes = $steps steps x 4 workers x 3 others x $k pairs x 8"
    else
        bad "data-parallel compress = topk 1%: $got bytes, wanted $want"
    fi
fi
# random-k: every coordinate (ratio 1) without error feedback is
# data-parallel (the coordinates shuffled, so the sums' order differs);
# at 1% the all-reduce carries a hundredth of the floats
run randomk-all "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=randomk --set strategy.ratio=1 --set strategy.error_feedback=off &&
    compare dp-none-4 randomk-all "data-parallel compress = randomk, ratio 1, no error feedback, against none"
if run dp-randomk "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=randomk --set strategy.ratio=0.01; then
    got=$(json "$tmp/dp-randomk/summary.json" .bytes_communicated)
    if awk -v g="$got" -v n="$none" -v p="$params" 'BEGIN { k = int(p / 100); r = g / (n * k / p)
            exit !(r > 0.99 && r < 1.01) }'; then
        ok "data-parallel compress = randomk 1%: $got bytes, none's $none x k / parameters"
    else
        bad "data-parallel compress = randomk 1%: $got bytes; none: $none, parameters $params"
    fi
fi
# the parameter server in half precision: every push and pull half the
# bytes, and within 1e-2 of the parameters of the one in single precision
run ps-none "${sgd[@]}" --set strategy.kind=parameter-server --set strategy.servers=2 &&
    run ps-fp16 "${sgd[@]}" --set strategy.kind=parameter-server --set strategy.servers=2 \
        --set strategy.compress=fp16 && {
    full=$(json "$tmp/ps-none/summary.json" .bytes_communicated)
    half=$(json "$tmp/ps-fp16/summary.json" .bytes_communicated)
    if [ "$((2 * half))" = "$full" ]; then
        ok "parameter-server compress = fp16: $half bytes, half of $full"
    else
        bad "parameter-server compress = fp16: $half bytes; none: $full"
    fi
    if out=$("$model_diff" "$tmp/ps-none.bin" "$tmp/ps-fp16.bin" 1e-2); then
        ok "parameter-server compress = fp16 against none: $out"
    else
        bad "parameter-server compress = fp16 against none: $out"
    fi
}
# signSGD: every worker's scale and signs (a bit a coordinate, 32 to a
# word) all-gathered
if run dp-sign "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=signsgd; then
    per=$((1 + (params + 31) / 32))
    got=$(json "$tmp/dp-sign/summary.json" .bytes_communicated)
    want=$((steps * 4 * 3 * 4 * per))
    if [ "$got" = "$want" ]; then
        ok "data-parallel compress = signsgd: $got bytes = $steps steps x 4 workers x 3 others x $per words x 4"
    else
        bad "data-parallel compress = signsgd: $got bytes, wanted $want"
    fi
    # sign bits travel as 4-byte words whatever the run's precision
    run dp-sign-bf16 "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
        --set strategy.compress=signsgd --set train.precision=bf16 &&
        [ "$(json "$tmp/dp-sign-bf16/summary.json" .bytes_communicated)" = "$want" ] &&
        ok "data-parallel compress = signsgd at precision bf16: the same $want bytes" ||
        bad "data-parallel compress = signsgd at precision bf16: $(json "$tmp/dp-sign-bf16/summary.json" .bytes_communicated) bytes, wanted $want"
fi
# global top-k: of every coordinate without error feedback, the tree adds
# every worker's whole gradient: data-parallel; at 1% the tree's 3
# messages up and 3 down carry k pairs each, whatever the workers
run gtopk-all "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=gtopk --set strategy.ratio=1 --set strategy.error_feedback=off &&
    compare dp-none-4 gtopk-all "data-parallel compress = gtopk, ratio 1, no error feedback, against none"
if run dp-gtopk "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=gtopk --set strategy.ratio=0.01; then
    k=$((params / 100))
    got=$(json "$tmp/dp-gtopk/summary.json" .bytes_communicated)
    want=$((steps * 6 * 8 * k))
    if [ "$got" = "$want" ]; then
        ok "data-parallel compress = gtopk 1%: $got bytes = $steps steps x 6 tree messages x $k pairs x 8"
    else
        bad "data-parallel compress = gtopk 1%: $got bytes, wanted $want"
    fi
fi
# PowerSGD: with a rank no matrix gains from, everything goes whole:
# data-parallel; at rank 1 the MLP 784-32-10's two all-reduces carry P
# (32 + 10 floats) with the biases (42), then Q (784 + 32), each a ring
# of 4 (2 x 3 sends of every float)
run psgd-whole "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=powersgd --set strategy.rank=1000 &&
    compare dp-none-4 psgd-whole "data-parallel compress = powersgd, rank 1000 (all whole), against none"
if [ "$params" = 25450 ] && run dp-psgd "${sgd[@]}" --set strategy.kind=data-parallel \
    --set strategy.overlap=off --set strategy.compress=powersgd --set strategy.rank=1; then
    got=$(json "$tmp/dp-psgd/summary.json" .bytes_communicated)
    want=$((steps * 2 * 3 * 4 * (32 + 10 + 42 + 784 + 32)))
    if [ "$got" = "$want" ]; then
        ok "data-parallel compress = powersgd rank 1: $got bytes = $steps steps x 2 x 3 x 4 x 900 floats"
    else
        bad "data-parallel compress = powersgd rank 1: $got bytes, wanted $want"
    fi
else
    bad "data-parallel compress = powersgd rank 1: the MLP has $params parameters, not 25450, or the run failed"
fi
# PowerSGD in buckets (two: overlap on, 0.001 MB) factors the same
# matrices as in one piece, each with its own Q: the same parameters up
# to the order of the all-reduces' sums
run psgd-one "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=off \
    --set strategy.compress=powersgd --set strategy.rank=2 --set model.hidden=32,16 &&
    run psgd-buckets "${sgd[@]}" --set strategy.kind=data-parallel --set strategy.overlap=on \
        --set strategy.bucket_mb=0.001 --set strategy.compress=powersgd --set strategy.rank=2 \
        --set model.hidden=32,16 && compare psgd-one psgd-buckets \
    "data-parallel compress = powersgd, in buckets against in one piece"
# the parameter server's compressed pushes: every coordinate without
# error feedback is the uncompressed run, bit for bit (the server expands
# each message into the whole gradient); signSGD's pushes are a scale and
# the signs, 32 to a 4-byte word, of each server's half; pulls are whole
psc=(--set strategy.kind=parameter-server --set strategy.servers=2)
for kind in topk randomk; do
    run ps-$kind-all "${sgd[@]}" "${psc[@]}" --set strategy.compress=$kind --set strategy.ratio=1 \
        --set strategy.error_feedback=off && {
        cmp -s "$tmp/ps-none.bin" "$tmp/ps-$kind-all.bin" &&
            ok "parameter-server compress = $kind, ratio 1, no error feedback: the parameters of none, bit for bit" ||
            bad "parameter-server compress = $kind, ratio 1, no error feedback: parameters differ from none's"
    }
done
if run ps-sign "${sgd[@]}" "${psc[@]}" --set strategy.compress=signsgd; then
    half=$(((params + 1) / 2))
    words=$((1 + (half + 31) / 32))
    got=$(json "$tmp/ps-sign/summary.json" .bytes_communicated)
    want=$((full / 2 + steps * 4 * 2 * words * 4))
    if [ "$got" = "$want" ]; then
        ok "parameter-server compress = signsgd: $got bytes = pulls $((full / 2)) + $steps steps x 4 workers x 2 servers x $words words x 4"
    else
        bad "parameter-server compress = signsgd: $got bytes, wanted $want"
    fi
fi
expect 2 "compress = gtopk merges the workers' top-k up a tree of workers" -- \
    "$dtsim" check "$src/tests/scenarios/tiny.ini" --platform "$plat" "${psc[@]}" \
    --set cluster.workers=4 --set strategy.compress=gtopk
# PowerSGD's pushes: each worker's own P^ and Q of every matrix's rows
# whole within a server's half (784-32-10 at 2 servers: W1's rows 0-15
# and 17-31, W2), the rest whole; a rank no matrix gains from is the
# uncompressed run bit for bit; at rank 1 a push is (16 + 784 + 181) +
# (15 + 784 + 10 + 32 + 645) = 2467 floats
run ps-psgd-whole "${sgd[@]}" "${psc[@]}" --set strategy.compress=powersgd --set strategy.rank=1000 &&
    { cmp -s "$tmp/ps-none.bin" "$tmp/ps-psgd-whole.bin" &&
        ok "parameter-server compress = powersgd, rank 1000 (all whole): the parameters of none, bit for bit" ||
        bad "parameter-server compress = powersgd, rank 1000: parameters differ from none's"; }
if [ "$params" = 25450 ] && run ps-psgd "${sgd[@]}" "${psc[@]}" --set strategy.compress=powersgd \
    --set strategy.rank=1; then
    got=$(json "$tmp/ps-psgd/summary.json" .bytes_communicated)
    want=$((full / 2 + steps * 4 * 2467 * 4))
    [ "$got" = "$want" ] &&
        ok "parameter-server compress = powersgd rank 1: $got bytes = pulls + $steps steps x 4 workers x 2467 floats x 4" ||
        bad "parameter-server compress = powersgd rank 1: $got bytes, wanted $want"
fi
# cost mode sends the same messages and charges the same compression:
# the same simulated time as the real run, for every kind
for case in data-parallel:topk data-parallel:randomk data-parallel:signsgd data-parallel:gtopk \
    data-parallel:powersgd parameter-server:topk parameter-server:randomk \
    parameter-server:signsgd parameter-server:powersgd; do
    kind=${case#*:}
    strat=${case%:*}
    name=cost-${strat}-$kind
    run $name-real "${sgd[@]}" --set strategy.kind=$strat --set strategy.compress=$kind &&
        "$dtsim" run "$src/tests/scenarios/tiny.ini" "${common[@]}" "${sgd[@]}" \
            --set strategy.kind=$strat --set strategy.compress=$kind --set train.compute=cost \
            --out "$tmp/$name-cost" >"$tmp/$name-cost.log" 2>&1 && {
        real=$(json "$tmp/$name-real/summary.json" .simulated_seconds)
        cost=$(json "$tmp/$name-cost/summary.json" .simulated_seconds)
        [ "$real" = "$cost" ] && ok "$strat compress = $kind: cost mode's $cost simulated s = real's" ||
            bad "$strat compress = $kind: cost mode $cost simulated s, real $real"
    }
done
checks_done
