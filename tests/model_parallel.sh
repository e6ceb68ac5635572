#!/usr/bin/env bash
# model_parallel.sh DTSIM MODEL_DIFF SOURCE_DIR - the model-parallel
# strategies (pipeline, tensor, hybrid; sim/grid.c) against what they
# promise:
#   1. equivalence: the parameters of serial SGD on the same global batch
#      (relative difference < 1e-5, tests/model_diff), for several stage
#      counts, micro-batch counts, both schedules, tp and grids, MLP and CNN;
#   2. on the ideal network, with stages of (nearly) equal cost, the
#      measured bubble is (p-1)/(m+p-1) and the step makespan
#      (m+p-1)(t_f+t_b) within 2%, t_f and t_b being the costliest stage's
#      forward and backward FLOPs per micro-batch over the host's speed;
#   3. the measured peak of stashed micro-batches is m for GPipe and
#      min(p - s, m) <= p for 1F1B on stage s, and the activation memory
#      summary.json reports is in the same ratio;
#   4. tensor parallelism sends exactly the bytes of its all-reduces: a
#      ring all-reduce of n floats sends 2(t-1)/t n floats per rank;
#   5. a hybrid dp=2, pp=2, tp=2 grid runs on platforms/dgx-2x8.xml with
#      each tensor-parallel pair inside a node, and groups that would cross
#      nodes in host order (tp = 3) are packed into nodes;
#   6. bad input ends with exit 2 and a message;
# and the memory accounting: a model too large for one device stops serial
# training with an out-of-memory error and trains as a pipeline, GPipe's
# stash of a big mini-batch does not fit where 1F1B's does, and a stage too
# big for its device is named.
# And the grid's all-reduce across replicas: every algorithm, overlapped
# or not, equal to serial SGD; a grid of replicas alone gives data-parallel's
# trace span for span, overlapped seconds included; a residual model cut
# between its blocks and split inside them equal to serial SGD.
# Each check prints one line; the script fails if any failed.  awk does the
# arithmetic, jq reads summary.json (checks.sh).
set -u
dtsim=$1
model_diff=$2
src=$(cd "$3" && pwd)
. "$(dirname "$0")/checks.sh"

tiny=$src/tests/scenarios/tiny.ini
ideal64=$src/tests/platforms/ideal-64.xml
ideal=(--cfg=network/model:CM02 --cfg=network/crosstraffic:0 --cfg=network/TCP-gamma:1e18)
worst_diff=0

# run NAME ARGS...: dtsim run on tiny.ini into $tmp/NAME, model in $tmp/NAME.bin
run() {
    local name=$1
    shift
    if ! "$dtsim" run "$tiny" --quiet --no-plot --out "$tmp/$name" --save-model "$tmp/$name.bin" \
        --force "$@" >"$tmp/$name.log" 2>&1; then
        bad "run $name: $(tail -1 "$tmp/$name.log")"
        return 1
    fi
}

# equal_params SERIAL OTHER LABEL: the two saved models agree within 1e-5
equal_params() {
    local out
    if out=$("$model_diff" "$tmp/$1.bin" "$tmp/$2.bin" 1e-5); then
        ok "$3: $out"
    else
        bad "$3: $out"
    fi
    local d
    d=$(sed -n 's/.*relative difference \([0-9.e+-]*\),.*/\1/p' <<<"$out")
    worst_diff=$(awk -v a="$worst_diff" -v b="${d:-1}" 'BEGIN { print (b + 0 > a + 0) ? b : a }')
}

steps=(--set train.steps=12 --set train.eval_every=12)
cnn=(--set model.kind=cnn --set model.channels=4,6 --set model.hidden=16)

echo "== 1. pipeline equivalence with serial SGD"
for model in mlp cnn; do
    m_args=(--set model.hidden=32,16)
    [ "$model" = cnn ] && m_args=("${cnn[@]}")
    run "serial-$model" "${steps[@]}" "${m_args[@]}" --set train.batch=24 || continue
    for p in 2 3 4; do
        for mb in 1 4 6; do
            for sch in gpipe 1f1b; do
                name=pipe-$model-$p-$mb-$sch
                run "$name" "${steps[@]}" "${m_args[@]}" --platform "$ideal64" \
                    --set strategy.kind=pipeline --set cluster.workers=$p \
                    --set strategy.stages=$p --set strategy.microbatches=$mb \
                    --set strategy.schedule=$sch --set train.batch=24 &&
                    equal_params "serial-$model" "$name" "$model pipeline p=$p m=$mb $sch"
            done
        done
    done
done
# explicit splits (a first stage of only the flatten layer: nothing flows
# back to it), Adam, more stages
run serial-adam "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=24 \
    --set train.optimizer=adam
for sch in gpipe 1f1b; do
    run "split-$sch" "${steps[@]}" --platform "$ideal64" --set model.hidden=32,16,8 \
        --set train.optimizer=adam --set strategy.kind=pipeline --set cluster.workers=3 \
        --set strategy.stages=3 --set strategy.split=1,3 --set strategy.microbatches=8 \
        --set strategy.schedule=$sch --set train.batch=24 &&
        equal_params serial-adam "split-$sch" "mlp pipeline split=1,3 adam m=8 $sch"
    run "cnn7-$sch" "${steps[@]}" "${cnn[@]}" --platform "$ideal64" --set strategy.kind=pipeline \
        --set cluster.workers=7 --set strategy.stages=7 --set strategy.microbatches=4 \
        --set strategy.schedule=$sch --set train.batch=24 &&
        equal_params serial-cnn "cnn7-$sch" "cnn pipeline p=7 (one layer per stage) m=4 $sch"
done

echo "== 1. tensor and hybrid equivalence with serial SGD"
# mlp hidden = 32,16,8: dense 32 COLUMN, 16 ROW, 8 COLUMN, logits ROW; cnn:
# the convolutions replicated, dense 16 COLUMN and the logits ROW
run serial-mlp3 "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=24
for t in 2 4; do
    run "tensor-mlp-$t" "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=24 \
        --platform "$ideal64" --set strategy.kind=tensor --set strategy.tp=$t \
        --set cluster.workers=$t && equal_params serial-mlp3 "tensor-mlp-$t" "mlp tensor tp=$t"
done
run tensor-cnn-2 "${steps[@]}" "${cnn[@]}" --set train.batch=24 --platform "$ideal64" \
    --set strategy.kind=tensor --set strategy.tp=2 --set cluster.workers=2 &&
    equal_params serial-cnn tensor-cnn-2 "cnn tensor tp=2"
# hybrid grids dp x pp x tp with a global batch of 24 (batch 24 / dp each)
for grid in "2 2 2" "1 2 2" "2 1 2" "3 2 1" "1 3 2" "2 2 4"; do
    read -r dp pp tp <<<"$grid"
    for sch in gpipe 1f1b; do
        name=hybrid-$dp-$pp-$tp-$sch
        run "$name" "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=$((24 / dp)) \
            --platform "$ideal64" --set strategy.kind=hybrid --set strategy.dp=$dp \
            --set strategy.pp=$pp --set strategy.tp=$tp --set cluster.workers=$((dp * pp * tp)) \
            --set strategy.microbatches=4 --set strategy.schedule=$sch --set train.eval_every=4 &&
            equal_params serial-mlp3 "$name" "mlp hybrid dp=$dp pp=$pp tp=$tp $sch"
    done
done
run hybrid-cnn "${steps[@]}" "${cnn[@]}" --set train.batch=12 --platform "$ideal64" \
    --set strategy.kind=hybrid --set strategy.dp=2 --set strategy.pp=2 --set strategy.tp=2 \
    --set cluster.workers=8 --set strategy.microbatches=3 &&
    equal_params serial-cnn hybrid-cnn "cnn hybrid dp=2 pp=2 tp=2 m=3"

echo "== 1b. the hybrid grid's all-reduce across replicas: every algorithm, overlapped or not"
# 2 replicas of 2 stages of 2 shards, buckets of 125 floats (several per stage)
for algo in ring rhd tree ps; do
    for ov in off on; do
        name=hybrid-$algo-$ov
        run "$name" "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=12 \
            --platform "$ideal64" --set strategy.kind=hybrid --set strategy.dp=2 \
            --set strategy.pp=2 --set strategy.tp=2 --set cluster.workers=8 \
            --set strategy.microbatches=3 --set strategy.allreduce=$algo \
            --set strategy.overlap=$ov --set strategy.bucket_mb=0.0005 &&
            equal_params serial-mlp3 "$name" "mlp hybrid 2x2x2 allreduce=$algo overlap=$ov"
    done
done
for algo in tree ps; do # 3 replicas: not a power of two
    name=hybrid3-$algo
    run "$name" "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=8 \
        --platform "$ideal64" --set strategy.kind=hybrid --set strategy.dp=3 --set strategy.pp=2 \
        --set strategy.tp=1 --set cluster.workers=6 --set strategy.microbatches=2 \
        --set strategy.allreduce=$algo --set strategy.overlap=on --set strategy.bucket_mb=0.0005 &&
        equal_params serial-mlp3 "$name" "mlp hybrid 3x2x1 allreduce=$algo overlap=on"
done
run hybrid4-rhd "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=6 \
    --platform "$ideal64" --set strategy.kind=hybrid --set strategy.dp=4 --set strategy.pp=1 \
    --set strategy.tp=2 --set cluster.workers=8 --set strategy.microbatches=2 \
    --set strategy.allreduce=rhd --set strategy.overlap=on --set strategy.bucket_mb=0.0005 &&
    equal_params serial-mlp3 hybrid4-rhd "mlp hybrid 4x1x2 allreduce=rhd overlap=on"

# the hierarchical all-reduce across replicas: 4 replicas of 2 shards on 2
# nodes of 4 hosts, two replicas a node
for algo in hierarchical hierarchical-rhd; do
    run "hybrid-$algo" "${steps[@]}" --set model.hidden=32,16,8 --set train.batch=6 \
        --platform "$src/tests/platforms/ideal-nodes-4x4.xml" --set strategy.kind=hybrid \
        --set strategy.dp=4 --set strategy.pp=1 --set strategy.tp=2 --set cluster.workers=8 \
        --set strategy.microbatches=2 --set strategy.allreduce=$algo --set strategy.overlap=on \
        --set strategy.bucket_mb=0.0005 &&
        equal_params serial-mlp3 "hybrid-$algo" "mlp hybrid 4x1x2 allreduce=$algo overlap=on (2 nodes)"
done
# a replica a node: no node has two replicas to reduce first
expect 2 "allreduce = hierarchical needs several nodes of several GPUs.*one each" -- "$dtsim" run \
    "$src/tests/scenarios/tiny.ini" --platform "$src/tests/platforms/ideal-nodes-4x4.xml" \
    --out "$tmp/x" --set strategy.kind=hybrid --set strategy.dp=4 --set strategy.tp=4 \
    --set cluster.workers=16 --set strategy.allreduce=hierarchical --set model.hidden=64

echo "== 1c. overlap in the grid: replicas alone are data-parallel, span for span"
ov=(--platform "$ideal64" "${ideal[@]}" --set model.hidden=64,32 --set cluster.workers=4
    --set strategy.bucket_mb=0.001 --set train.steps=6 --set train.eval_every=6)
run ov-dp "${ov[@]}" --set strategy.kind=data-parallel --set strategy.overlap=on &&
    run ov-hybrid "${ov[@]}" --set strategy.kind=hybrid --set strategy.dp=4 --set strategy.tp=1 \
        --set strategy.microbatches=1 --set strategy.overlap=on &&
    {
        dp_overlap=$(json "$tmp/ov-dp/summary.json" '[.hosts[].overlap_seconds] | add')
        hy_overlap=$(json "$tmp/ov-hybrid/summary.json" '[.hosts[].overlap_seconds] | add')
        if cmp -s "$tmp/ov-dp/trace.json" "$tmp/ov-hybrid/trace.json" &&
            cmp -s "$tmp/ov-dp.bin" "$tmp/ov-hybrid.bin" && [ "$dp_overlap" = "$hy_overlap" ] &&
            awk -v o="$hy_overlap" 'BEGIN { exit !(o > 0) }'; then
            ok "hybrid dp=4 pp=1 tp=1 overlapped: data-parallel's trace and parameters, $hy_overlap s overlapped in all"
        else
            bad "hybrid dp=4 overlapped differs from data-parallel (overlap $hy_overlap s vs $dp_overlap s)"
        fi
    }
# a pipeline's replicas overlap too: on the critical stage (the first,
# holding the big first layer and one more) the second layer's bucket
# all-reduces while the first layer's backward runs
for ov_on in off on; do
    run "ov-grid-$ov_on" "${ov[@]}" --set model.hidden=128,128,128,128 --set strategy.split=3 \
        --set strategy.kind=hybrid --set strategy.dp=2 --set strategy.pp=2 --set strategy.tp=1 \
        --set strategy.overlap=$ov_on
done
if [ -f "$tmp/ov-grid-on/summary.json" ] && [ -f "$tmp/ov-grid-off/summary.json" ]; then
    on=$(json "$tmp/ov-grid-on/summary.json" '[.hosts[].overlap_seconds] | add')
    off=$(json "$tmp/ov-grid-off/summary.json" '[.hosts[].overlap_seconds] | add')
    t_on=$(json "$tmp/ov-grid-on/summary.json" .simulated_seconds)
    t_off=$(json "$tmp/ov-grid-off/summary.json" .simulated_seconds)
    if awk -v a="$on" -v b="$off" -v x="$t_on" -v y="$t_off" 'BEGIN { exit !(a > 0 && b == 0 && x < y) }'; then
        ok "hybrid 2x2x1: overlap on hides $on s of all-reduce, $t_on s against $t_off s off"
    else
        bad "hybrid 2x2x1 overlap: $on s hidden (on), $off s (off); $t_on s against $t_off s"
    fi
fi

# pipelines SERIAL TAG LABEL ARGS...: pipelines of 2 and 3 stages, 4
# micro-batches, with each schedule, against the serial run SERIAL
pipelines() {
    local serial=$1 tag=$2 label=$3 p sch name
    shift 3
    for p in 2 3; do
        for sch in gpipe 1f1b; do
            name=$tag-pipe-$p-$sch
            run "$name" "$@" --platform "$ideal64" --set strategy.kind=pipeline \
                --set cluster.workers=$p --set strategy.stages=$p --set strategy.microbatches=4 \
                --set strategy.schedule=$sch &&
                equal_params "$serial" "$name" "$label pipeline p=$p m=4 $sch"
        done
    done
}

echo "== 1d. residual models: stages cut between blocks, tensor parallelism inside them"
res=(--set model.kind=resmlp --set model.width=16 --set model.blocks=3)
run serial-res "${steps[@]}" "${res[@]}" --set train.batch=24
pipelines serial-res res resmlp "${steps[@]}" "${res[@]}" --set train.batch=24
gpt=(--set model.kind=gpt --set data.dataset=text --set model.layers=3 --set model.d_model=16
     --set model.heads=2 --set model.seq_len=16 --set train.batch=24)
run serial-gpt "${steps[@]}" "${gpt[@]}"
pipelines serial-gpt gpt gpt "${steps[@]}" "${gpt[@]}"
# a ResNet's pipeline: each micro-batch of 24 / 4 = 6 samples is its own
# batch-norm batch, which is serial training with bn_group = 6
rn=(--set model.kind=resnet --set model.blocks=1,1 --set model.widths=4,8 --set train.batch=24)
run serial-rn "${steps[@]}" "${rn[@]}" --set model.bn_group=6
pipelines serial-rn rn resnet "${steps[@]}" "${rn[@]}"
# Megatron-LM's split: q, k, v and fc by columns, heads among the shards,
# proj and fc2 by rows (heads = 4 so that tp = 4 divides them), the token
# embedding by vocabulary (96 tokens)
gpt4=("${gpt[@]}" --set model.heads=4 --set model.vocab=96)
run serial-gpt4 "${steps[@]}" "${gpt4[@]}"
for tp in 2 4; do
    run "gpt-tensor-$tp" "${steps[@]}" "${gpt4[@]}" --platform "$ideal64" \
        --set strategy.kind=tensor --set strategy.tp=$tp --set cluster.workers=$tp &&
        equal_params serial-gpt4 "gpt-tensor-$tp" "gpt tensor tp=$tp"
done
run gpt-hybrid "${steps[@]}" "${gpt4[@]}" --platform "$ideal64" --set strategy.kind=hybrid \
    --set strategy.dp=2 --set strategy.pp=2 --set strategy.tp=2 --set cluster.workers=8 \
    --set strategy.microbatches=2 --set train.batch=12 &&
    equal_params serial-gpt4 gpt-hybrid "gpt hybrid dp=2 pp=2 tp=2"
# the shards' all-reduce bytes by hand: per block and step two all-reduces
# forward (after proj, after fc2) and two backward (after qkv, after fc),
# the embedding's forward one and the output layer's backward one, of
# batch x seq_len x d_model floats; the vocabulary-parallel loss's two, of
# t and 2 floats a position (24 x 16 positions); each sending 2 (t-1)/t of
# its floats per shard on a ring
for tp in 2 4; do
    [ -f "$tmp/gpt-tensor-$tp/summary.json" ] || continue
    sent=$(json "$tmp/gpt-tensor-$tp/summary.json" '.hosts[0].bytes_sent')
    want=$(awk -v t=$tp 'BEGIN { printf "%d", ((3 * 4 + 2) * 24 * 16 * 16 + 24 * 16 * (t + 2)) * 12 * 2 * (t - 1) / t * 4 }')
    if [ "$sent" = "$want" ]; then
        ok "gpt tensor tp=$tp: a shard sends $sent bytes, ((3 blocks x 4 + 2) x 24 x 16 x 16 + 24 x 16 x (t + 2)) floats x 12 steps x 2 (t-1)/t x 4 bytes"
    else
        bad "gpt tensor tp=$tp: a shard sends $sent bytes, by hand $want"
    fi
done
run res-tensor "${steps[@]}" "${res[@]}" --set train.batch=24 --platform "$ideal64" \
    --set strategy.kind=tensor --set strategy.tp=2 --set cluster.workers=2 &&
    equal_params serial-res res-tensor "resmlp tensor tp=2"
run res-hybrid "${steps[@]}" "${res[@]}" --set train.batch=12 --platform "$ideal64" \
    --set strategy.kind=hybrid --set strategy.dp=2 --set strategy.pp=2 --set strategy.tp=2 \
    --set cluster.workers=8 --set strategy.overlap=on --set strategy.bucket_mb=0.0005 &&
    equal_params serial-res res-hybrid "resmlp hybrid 2x2x2 overlap=on"
# the balanced split lands between blocks, never inside one: with width
# 256 the stem and each block cost about the same
for p in 3 4; do
    run "res-balance-$p" --set model.kind=resmlp --set model.width=256 --set model.blocks=3 \
        --set train.steps=2 --set train.eval_every=2 --platform "$ideal64" \
        --set strategy.kind=pipeline --set cluster.workers=$p --set strategy.stages=$p || continue
    first=$(json "$tmp/res-balance-$p/summary.json" '[.hosts[].grid.first_layer] | map(tostring) | join(" ")')
    case " $first " in
    *" 3 "* | *" 4 "* | *" 6 "* | *" 7 "* | *" 9 "* | *" 10 "*)
        bad "resmlp pipeline p=$p cuts a block: stages start at layers $first" ;;
    *) ok "resmlp pipeline p=$p: stages start at layers $first, between blocks" ;;
    esac
done
expect 2 "split = ...4...: a stage cannot start at layer 4, which a residual connection" -- \
    "$dtsim" check "$tiny" --platform "$ideal64" "${res[@]}" --set strategy.kind=pipeline \
    --set cluster.workers=2 --set strategy.stages=2 --set strategy.split=4

echo "== 2, 3. bubble, makespan and stashed activations on the ideal network"
# The model: flatten, dense 784->2, 2->1020, 1020->1024 (stage 0), then
# dense 1024->1024 (one per stage 1 .. p-2), then 1024->1014, 1014->10
# (stage p-1).  The widths make every stage cost one 1024x1024 layer within
# 0.2%, forward and backward (stage 0 skips its first input gradient; the
# last stage has the output layer and the loss).  Micro-batches of 4
# samples: a stage boundary carries 16 KB (13 us + 10 us latency on
# ideal-64) against 8.4 ms of forward per stage at 1 GFLOP/s.
b=4
# t_f t_b: the costliest stage's forward and backward seconds per
# micro-batch at 1 GFLOP/s, from the FLOPs core/dense.c and
# core/softmax_xent.c count
stage_times() {
    awk -v b=$b -v p="$1" 'function df(i, o, r) { return 2*b*o*i + b*o + (r ? b*o : 0) }
        function db(i, o, r, d) { return 2*o*i*b + b*o + (d ? 2*b*i*o : 0) + (r ? b*o : 0) }
        BEGIN {
            f[0] = df(784, 2, 1) + df(2, 1020, 1) + df(1020, 1024, 1)
            g[0] = db(784, 2, 1, 0) + db(2, 1020, 1, 1) + db(1020, 1024, 1, 1)
            for (s = 1; s < p - 1; s++) { f[s] = df(1024, 1024, 1); g[s] = db(1024, 1024, 1, 1) }
            f[p-1] = df(1024, 1014, 1) + df(1014, 10, 0)
            g[p-1] = db(1024, 1014, 1, 1) + db(1014, 10, 0, 1) + b*(6*10 + 4) + b*(10 + 1)
            tf = tb = 0
            for (s = 0; s < p; s++) { if (f[s] > tf) tf = f[s]; if (g[s] > tb) tb = g[s] }
            printf "%.12g %.12g\n", tf / 1e9, tb / 1e9
        }'
}
for p in 2 4; do
    hidden=2,1020 split=
    for ((s = 1; s < p; s++)); do hidden+=,1024; done
    hidden+=,1014
    for ((s = 1; s < p; s++)); do split+=${split:+,}$((3 + s)); done
    read -r tf tb < <(stage_times "$p")
    for mb in 1 4 8; do
        for sch in gpipe 1f1b; do
            name=ideal-$p-$mb-$sch
            run "$name" --platform "$ideal64" "${ideal[@]}" --set strategy.kind=pipeline \
                --set cluster.workers=$p --set strategy.stages=$p --set strategy.microbatches=$mb \
                --set strategy.schedule=$sch --set train.batch=$((b * mb)) --set train.steps=3 \
                --set train.eval_every=3 --set model.hidden=$hidden --set strategy.split=$split ||
                continue
            sum=$tmp/$name/summary.json
            got_bubble=$(json "$sum" '.pipelines[0].bubble_fraction')
            got_span=$(json "$sum" '.pipelines[0].step_makespan_seconds')
            verdict=$(awk -v p=$p -v m=$mb -v tf="$tf" -v tb="$tb" -v gb="${got_bubble:-nan}" \
                -v gs="${got_span:-nan}" 'BEGIN {
                    wb = (p - 1) / (m + p - 1); ws = (m + p - 1) * (tf + tb)
                    eb = (gb - wb) / wb; if (eb < 0) eb = -eb
                    es = (gs - ws) / ws; if (es < 0) es = -es
                    printf "%s bubble %.4f (closed form %.4f, error %.2f%%), makespan %.6g s " \
                        "(closed form %.6g s, error %.2f%%)\n", (eb <= 0.02 && es <= 0.02) ? "ok" : "bad",
                        gb, wb, 100 * eb, gs, ws, 100 * es }')
            if [ "${verdict%% *}" = ok ]; then
                ok "$sch p=$p m=$mb: ${verdict#* }"
            else
                bad "$sch p=$p m=$mb: ${verdict#* }"
            fi
            peaks=$(json "$sum" '.pipelines[0].peak_stashed_microbatches[]')
            want=
            for ((s = 0; s < p; s++)); do
                if [ "$sch" = gpipe ]; then
                    want+="$mb "
                else
                    want+="$((p - s < mb ? p - s : mb)) "
                fi
            done
            if [ "$(echo $peaks)" = "$(echo $want)" ]; then
                ok "$sch p=$p m=$mb: peak stashed micro-batches per stage $peaks"
            else
                bad "$sch p=$p m=$mb: peak stashed micro-batches per stage '$peaks', expected '$want'"
            fi
        done
        # the memory accounting follows the stash: GPipe / 1F1B activations = m / min(p - s, m)
        ga=($(json "$tmp/ideal-$p-$mb-gpipe/summary.json" '.hosts[].memory_bytes.activations'))
        oa=($(json "$tmp/ideal-$p-$mb-1f1b/summary.json" '.hosts[].memory_bytes.activations'))
        verdict=ok
        for ((s = 0; s < p; s++)); do
            k=$((p - s < mb ? p - s : mb))
            awk -v g="${ga[s]:-0}" -v o="${oa[s]:-1}" -v r="$mb / $k" -v m=$mb -v k=$k \
                'BEGIN { exit !(o > 0 && g * k == o * m) }' || verdict=bad
        done
        if [ "$verdict" = ok ]; then
            ok "p=$p m=$mb: activation bytes per stage GPipe ${ga[*]}, 1F1B ${oa[*]}"
        else
            bad "p=$p m=$mb: activation bytes GPipe '${ga[*]}' and 1F1B '${oa[*]}' not in ratio m : min(p-s, m)"
        fi
    done
done

echo "== 2b. where each stage's time goes: computing, transfers, waiting, idle"
# GPipe on the instant network (free transfers), the same p = 4 stages of
# equal cost, m = 4, S = 3 steps.  Per step a stage computes m (t_f + t_b)
# and updates its parameters (u_s); stage 0 ends each step last (its last
# backward s t_b after stage s's, then its update), so a step takes
# (m + p - 1)(t_f + t_b) + u_0 and over the run
#   compute_s = S (m (t_f + t_b) + u_s)    comm_s = 0
#   idle_s    = u_0 - u_s + s t_b          (the run's end, after its last update)
#   wait_s    = S (p - 1)(t_f + t_b) + (S - 1)(u_0 - u_s) - s t_b   (the bubble)
# and the four add up to the simulated time.
instant=$src/tests/platforms/instant-8.xml
read -r tf tb < <(stage_times 4)
if run tsplit --platform "$instant" --set strategy.kind=pipeline --set cluster.workers=4 \
    --set strategy.stages=4 --set strategy.microbatches=4 --set strategy.schedule=gpipe \
    --set train.batch=16 --set train.steps=3 --set train.eval_every=3 \
    --set model.hidden=2,1020,1024,1024,1024,1014 --set strategy.split=4,5,6; then
    trace=$tmp/tsplit/trace.json
    u0=$(json "$trace" '[.traceEvents[] | select(.tid == 0 and .name == "update")][0].dur / 1e6')
    for s in 0 1 2 3; do
        us=$(json "$trace" "[.traceEvents[] | select(.tid == $s and .name == \"update\")][0].dur / 1e6")
        read -r wc ww wi < <(awk -v S=3 -v p=4 -v m=4 -v s=$s -v tf="$tf" -v tb="$tb" -v u0="$u0" \
            -v us="$us" 'BEGIN { printf "%.12g %.12g %.12g\n", S * (m * (tf + tb) + us),
                S * (p - 1) * (tf + tb) + (S - 1) * (u0 - us) - s * tb, u0 - us + s * tb }')
        time_split "stage $s" "$tmp/tsplit/summary.json" $s "$wc" "$ww" "$wi"
    done
fi

echo "== 4. tensor-parallel traffic"
# hidden = 32,16,8 over t shards: per step, all-reduces of B x 16 floats
# (after the ROW layer 16, forward), B x 10 (after the ROW logits layer) and
# B x 16 (the input gradient of the COLUMN layer 8, backward; the COLUMN
# layer 32 is the first with parameters and has no input gradient).  A ring
# all-reduce of n floats sends 2(t-1)/t n floats from each rank.
for t in 2 4; do
    sum=$tmp/tensor-mlp-$t/summary.json
    [ -f "$sum" ] || continue
    want=$(awk -v t=$t -v b=24 -v s=12 'BEGIN { printf "%.0f", s * 2 * (t - 1) / t * b * (16 + 10 + 16) * 4 }')
    sent=$(json "$sum" '.hosts[].bytes_sent')
    total=$(json "$sum" .bytes_communicated)
    if [ "$(echo $sent)" = "$(for ((k = 0; k < t; k++)); do printf '%s ' "$want"; done | xargs)" ] &&
        [ "$total" = "$((want * t))" ]; then
        ok "tensor tp=$t: every rank sent $want bytes (12 steps x 2($t-1)/$t x 24 x 42 floats x 4), $total in all"
    else
        bad "tensor tp=$t: bytes sent per rank '$sent' and in all '$total', expected $want each"
    fi
done

echo "== 5. hybrid placement on dgx-2x8"
dgx=$src/platforms/dgx-2x8.xml
# check_pairs SUMMARY TP LABEL: each group of TP consecutive ranks is on hosts
# whose names start with the same node (n0-..., n1-...), and summary.json
# agrees
check_pairs() {
    local hosts verdict=ok
    read -ra hosts <<<"$(json "$1" '.hosts[].host' | xargs)"
    [ "${#hosts[@]}" -gt 0 ] || verdict=bad
    for ((r = 0; r < ${#hosts[@]}; r++)); do
        [ "${hosts[r]%%-*}" = "${hosts[r - r % $2]%%-*}" ] || verdict=bad
    done
    if [ "$verdict" = ok ] && [ "$(json "$1" .grid.tp_groups_within_node)" = true ]; then
        ok "$3: tensor-parallel groups of $2 within one node: ${hosts[*]}"
    else
        bad "$3: tensor-parallel groups of $2 not within nodes: ${hosts[*]}"
    fi
}
if run dgx-222 --platform "$dgx" --set model.hidden=32,16,8 --set train.batch=16 \
    --set train.steps=6 --set strategy.kind=hybrid --set strategy.dp=2 --set strategy.pp=2 \
    --set strategy.tp=2 --set cluster.workers=8; then
    check_pairs "$tmp/dgx-222/summary.json" 2 "hybrid dp=2 pp=2 tp=2"
fi
if run dgx-244 --platform "$dgx" --set model.hidden=32,16,8 --set train.batch=16 \
    --set train.steps=6 --set strategy.kind=hybrid --set strategy.dp=2 --set strategy.pp=2 \
    --set strategy.tp=4 --set cluster.workers=16; then
    check_pairs "$tmp/dgx-244/summary.json" 4 "hybrid dp=2 pp=2 tp=4 (both nodes)"
fi
# three groups of 3: host order would put n0-gpu6, n0-gpu7, n1-gpu0 together
if run dgx-133 --platform "$dgx" --set model.hidden=33,15 --set train.batch=12 \
    --set train.steps=6 --set strategy.kind=hybrid --set strategy.pp=3 --set strategy.tp=3 \
    --set cluster.workers=9; then
    check_pairs "$tmp/dgx-133/summary.json" 3 "hybrid pp=3 tp=3 (packed)"
    expect 0 "packed into nodes" -- grep '"placement"' "$tmp/dgx-133/summary.json"
fi
# a group the user puts across the nodes is reported as such
run dgx-across --platform "$dgx" --set model.hidden=32,16,8 --set train.batch=16 \
    --set train.steps=2 --set strategy.kind=tensor --set strategy.tp=2 --set cluster.workers=2 \
    --set cluster.hosts=n0-gpu7,n1-gpu0 &&
    expect 0 '"tp_groups_within_node":[[:space:]]*false' -- cat "$tmp/dgx-across/summary.json"

echo "== 6. bad input"
pipe=(--set strategy.kind=pipeline --platform "$ideal64")
expect 2 "stages = 5 but the model has only 3 layers" -- \
    "$dtsim" run "$tiny" "${pipe[@]}" --set strategy.stages=5 --set cluster.workers=5
expect 2 "set \[cluster\] workers = 3 to match stages = 3" -- \
    "$dtsim" run "$tiny" "${pipe[@]}" --set strategy.stages=3 --set cluster.workers=2
expect 2 "batch = 16 is not divisible by \[strategy\] microbatches = 3" -- \
    "$dtsim" run "$tiny" "${pipe[@]}" --set cluster.workers=2 --set strategy.microbatches=3
expect 2 "split gives 2 first layers but stages = 2" -- \
    "$dtsim" run "$tiny" "${pipe[@]}" --set cluster.workers=2 --set strategy.split=1,2
expect 2 "split = .*2.*: each stage's first layer must be after" -- \
    "$dtsim" run "$tiny" "${pipe[@]}" --set cluster.workers=3 --set strategy.stages=3 \
    --set strategy.split=2,2
expect 2 "split = .*3.*below 3" -- \
    "$dtsim" check "$tiny" "${pipe[@]}" --set cluster.workers=2 --set strategy.split=3
expect 2 "stages is a setting of kind = pipeline" -- \
    "$dtsim" check "$tiny" --set strategy.stages=2
hyb=(--set strategy.kind=hybrid --platform "$ideal64")
expect 2 "dp x pp x tp = 2 x 2 x 2 = 8 ranks, but \[cluster\] workers = 6" -- \
    "$dtsim" run "$tiny" "${hyb[@]}" --set strategy.dp=2 --set strategy.pp=2 --set strategy.tp=2 \
    --set cluster.workers=6
expect 2 "pp = 4 but the model has only 3 layers" -- \
    "$dtsim" run "$tiny" "${hyb[@]}" --set strategy.pp=4 --set strategy.tp=1 --set cluster.workers=4
expect 2 "batch = 16 is not divisible by \[strategy\] microbatches = 5" -- \
    "$dtsim" run "$tiny" "${hyb[@]}" --set strategy.pp=2 --set strategy.tp=1 \
    --set cluster.workers=2 --set strategy.microbatches=5
expect 2 "layer 1 \(dense, 32 units\).*32 is not a multiple of 3" -- \
    "$dtsim" run "$tiny" --set strategy.kind=tensor --platform "$ideal64" --set strategy.tp=3 \
    --set cluster.workers=3
expect 2 "32 is not a multiple of 3" -- \
    "$dtsim" check "$tiny" "${hyb[@]}" --set strategy.dp=2 --set strategy.tp=3 --set cluster.workers=6
expect 2 "set \[cluster\] workers = 4 to match tp = 4" -- \
    "$dtsim" run "$tiny" --set strategy.kind=tensor --platform "$ideal64" --set strategy.tp=4
expect 2 "microbatches is a setting of kind = pipeline or hybrid" -- \
    "$dtsim" run "$tiny" --set strategy.kind=tensor --platform "$ideal64" --set strategy.tp=2 \
    --set cluster.workers=2 --set strategy.microbatches=2

echo "== memory: a model too large for one device, and GPipe's stash"
large=$src/scenarios/pipeline-large-model.ini
expect 2 "out of memory on rank 0 \(host gpu0\): it needs 0.175 GB .* has 0.128 GB" -- \
    "$dtsim" run "$large" --set strategy.kind=serial --set cluster.workers=1 --out "$tmp/large-serial"
expect 0 "pipeline, 2 workers, 2 steps" -- "$dtsim" run "$large" --set train.steps=2 \
    --set train.eval_every=2 --set data.test_samples=100 --no-plot --out "$tmp/large-pipe"
expect 2 "out of memory on rank 0 \(host gpu0\): .*activations 0.106" -- \
    "$dtsim" run "$src/scenarios/pipeline-memory.ini" --set train.batch=1024 \
    --set strategy.schedule=gpipe --out "$tmp/mem-gpipe"
# a stage's need is its slice of parameters, gradients and momentum (and
# its stash): a split that leaves 12.6 million parameters on stage 1
expect 2 "out of memory on rank 1 \(host gpu1\): it needs 0.152 GB \(parameters 0.0504" -- \
    "$dtsim" run "$large" --set strategy.split=2 --set train.steps=2 --out "$tmp/large-oom"

echo "worst relative difference from serial: $worst_diff"
checks_done
