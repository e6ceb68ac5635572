#!/usr/bin/env bash
# large_models.sh DTSIM SOURCE_DIR - what training models too big for this
# machine rests on.
# Cost mode: [train] compute = cost runs the same schedule and messages as
# compute = real and charges the same FLOPs and bytes without running a
# kernel: for the MLP, the CNN and the GPT under every strategy, the cost
# run's trace.json and timeline.dat are the real run's byte for byte (every
# span of every rank), its summary.json is the real run's but for what only
# learning gives (loss, accuracy, perplexity, the sample) and wall time, and
# its metrics.csv has the same steps and simulated times with empty loss and
# accuracy; a GPT whose real parameters would take gigabytes runs in a
# small resident set.
# Precision: bf16 and fp16 bytes a parameter, halved traffic, a host's
# tensor-core rate.
# Recomputation: the same parameters as without it, one more forward pass
# of every layer but the output layer, and the memory it saves.
# And the bad input of all three: exit 2.
set -u
dtsim=$1
src=$2
. "$(dirname "$0")/checks.sh"
tiny=$src/tests/scenarios/tiny.ini
dgx=$src/platforms/dgx-2x8.xml
hetero=$src/platforms/hetero.xml

# what learning alone gives, and wall time: left out of the comparison
learned='del(.wall_seconds, .compute, .compute_note, .final_loss, .test_loss, .test_accuracy,
    .settings.train.compute, .language_model.validation_loss, .language_model.perplexity,
    .language_model.sample, .measures.perplexity)'

# pair LABEL ARGS...: run tiny.ini with ARGS in both modes and compare
pair() {
    local label=$1 mode rc=0
    shift
    for mode in real cost; do
        if ! "$dtsim" run "$tiny" --quiet --no-plot --out "$tmp/$mode" --force \
            --set train.steps=6 --set train.eval_every=3 --set train.compute=$mode "$@" \
            >"$tmp/$mode.log" 2>&1; then
            bad "$label: compute = $mode failed"
            sed 's/^/    /' "$tmp/$mode.log" | head -5
            return
        fi
    done
    for f in trace.json timeline.dat; do
        cmp -s "$tmp/real/$f" "$tmp/cost/$f" || rc=1
    done
    cmp -s <(jq -S "$learned" "$tmp/real/summary.json") \
        <(jq -S "$learned" "$tmp/cost/summary.json") || rc=1
    cmp -s <(cut -d, -f1-3,7 "$tmp/real/metrics.csv") \
        <(cut -d, -f1-3,7 "$tmp/cost/metrics.csv") || rc=1
    [ "$(jq -c '[.compute, .test_accuracy]' "$tmp/cost/summary.json")" = '["cost",null]' ] || rc=1
    local secs
    secs=$(json "$tmp/cost/summary.json" .simulated_seconds)
    if [ "$rc" -eq 0 ]; then
        ok "$label: cost = real, span for span ($secs simulated s)"
    else
        bad "$label: cost and real differ"
        diff <(jq -S "$learned" "$tmp/real/summary.json") \
            <(jq -S "$learned" "$tmp/cost/summary.json") | head -8 | sed 's/^/    /'
    fi
}

cnn=(--set model.kind=cnn --set model.channels=4,6 --set model.hidden=16)
gpt=(--set model.kind=gpt --set model.layers=2 --set model.d_model=32 --set model.heads=4
    --set model.seq_len=16 --set model.vocab=128 --set data.dataset=text
    --set data.train_samples=2000 --set data.test_samples=64)
on() { echo --platform "$1" --set cluster.workers="$2" --set strategy.kind="$3"; }

for model in mlp cnn gpt; do
    m=()
    [ "$model" = cnn ] && m=("${cnn[@]}")
    [ "$model" = gpt ] && m=("${gpt[@]}")
    # shellcheck disable=SC2046 # on() gives several words on purpose
    {
        pair "$model serial" "${m[@]}" $(on "$dgx" 1 serial)
        for algo in ring rhd tree ps; do
            for overlap in off on; do
                pair "$model data-parallel $algo overlap $overlap" "${m[@]}" \
                    $(on "$dgx" 4 data-parallel) --set strategy.allreduce=$algo \
                    --set strategy.overlap=$overlap --set strategy.bucket_mb=0.002
            done
        done
        pair "$model pipeline gpipe" "${m[@]}" $(on "$dgx" 2 pipeline) \
            --set strategy.microbatches=4
        pair "$model pipeline 1f1b" "${m[@]}" $(on "$dgx" 3 pipeline) --set strategy.stages=3 \
            --set strategy.microbatches=4 --set strategy.schedule=1f1b
        pair "$model local-sgd" "${m[@]}" $(on "$dgx" 4 local-sgd) --set strategy.local_steps=3
        for mode in "sync --set strategy.servers=2" async "ssp --set strategy.staleness=1" \
            "sync --set strategy.backup_workers=1"; do
            # shellcheck disable=SC2086 # the mode's own options
            pair "$model parameter-server $mode" "${m[@]}" $(on "$hetero" 3 parameter-server) \
                --set strategy.mode=$mode
        done
    }
done
# shellcheck disable=SC2046
{
    pair "mlp data-parallel hierarchical overlap on" $(on "$dgx" 16 data-parallel) \
        --set strategy.allreduce=hierarchical --set strategy.overlap=on --set strategy.bucket_mb=0.002
    pair "mlp hybrid 8x1x2 hierarchical-rhd" $(on "$dgx" 16 hybrid) --set strategy.dp=8 \
        --set strategy.tp=2 --set strategy.allreduce=hierarchical-rhd
    pair "mlp tensor tp=2" $(on "$dgx" 2 tensor) --set strategy.tp=2
    pair "gpt tensor tp=4" "${gpt[@]}" $(on "$dgx" 4 tensor) --set strategy.tp=4
    pair "gpt hybrid 2x2x2 overlap" "${gpt[@]}" $(on "$dgx" 8 hybrid) --set strategy.dp=2 \
        --set strategy.pp=2 --set strategy.tp=2 --set strategy.microbatches=2 \
        --set strategy.overlap=on --set strategy.bucket_mb=0.002
    pair "mlp hybrid 2x2x1 1f1b" $(on "$dgx" 4 hybrid) --set strategy.dp=2 --set strategy.pp=2 \
        --set strategy.tp=1 --set strategy.microbatches=4 --set strategy.schedule=1f1b
}

# Precision: the same agreement in bf16; then what bf16 and fp16 change.
# shellcheck disable=SC2046
pair "gpt hybrid 2x2x2 bf16" "${gpt[@]}" $(on "$dgx" 8 hybrid) --set strategy.dp=2 \
    --set strategy.pp=2 --set strategy.tp=2 --set strategy.microbatches=2 --set train.precision=bf16
cat >"$tmp/tc.xml" <<'XML'
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <cluster id="tc" prefix="tc-" suffix="" radical="0-3" speed="1Gf" bw="100GBps" lat="0us"
           sharing_policy="SPLITDUPLEX">
    <prop id="speed_bf16" value="4e9"/>
  </cluster>
</platform>
XML
prec() { # prec NAME PRECISION OPTIMIZER: data-parallel on 4 tensor-core devices
    "$dtsim" run "$tiny" --quiet --no-plot --out "$tmp/$1" --platform "$tmp/tc.xml" \
        --set cluster.workers=4 --set strategy.kind=data-parallel --set train.steps=3 \
        --set train.precision="$2" --set train.optimizer="$3" >"$tmp/$1.log" 2>&1
}
if prec fp32 fp32 adam && prec bf16 bf16 adam && prec fp16 fp16 sgd; then
    P=$(json "$tmp/fp32/summary.json" .parameters)
    per() { json "$tmp/$1/summary.json" ".hosts[0].memory_bytes | [.parameters, .gradients, .optimizer] | map(. / $P) | join(\" \")"; }
    [ "$(per bf16)" = "2 2 12" ] && ok "bf16 Adam keeps 2 + 2 + 12 bytes a parameter (fp32 master weights and moments)" ||
        bad "bf16 Adam bytes a parameter: $(per bf16), wanted 2 2 12"
    [ "$(per fp16)" = "2 2 8" ] && ok "fp16 SGD with momentum keeps 2 + 2 + 8 bytes a parameter" ||
        bad "fp16 SGD bytes a parameter: $(per fp16), wanted 2 2 8"
    [ "$(per fp32)" = "4 4 8" ] && ok "fp32 Adam keeps 4 + 4 + 8 bytes a parameter" ||
        bad "fp32 Adam bytes a parameter: $(per fp32), wanted 4 4 8"
    b32=$(json "$tmp/fp32/summary.json" .bytes_communicated)
    b16=$(json "$tmp/bf16/summary.json" .bytes_communicated)
    [ "$((b32))" -eq "$((2 * b16))" ] && ok "bf16 sends half fp32's bytes ($b16 against $b32)" ||
        bad "bf16 sends $b16 bytes, fp32 $b32"
    c32=$(json "$tmp/fp32/summary.json" '[.hosts[].compute_seconds] | add')
    c16=$(json "$tmp/bf16/summary.json" '[.hosts[].compute_seconds] | add')
    awk -v a="$c32" -v b="$c16" 'BEGIN { r = a / b; d = r - 4; exit !(d < 1e-6 && d > -1e-6) }' &&
        ok "speed_bf16 = 4 x speed: compute takes a quarter ($c16 s against $c32 s)" ||
        bad "speed_bf16: compute $c16 s against fp32 $c32 s, wanted a quarter"
else
    bad "the precision runs failed: $(tail -1 "$tmp/fp32.log" "$tmp/bf16.log" "$tmp/fp16.log")"
fi
expect 2 "precision.*fp32 bf16 fp16" -- "$dtsim" check "$tiny" --set train.precision=fp8
sed 's/value="4e9"/value="fast"/' "$tmp/tc.xml" >"$tmp/tc-bad.xml"
expect 2 "tc-bad.xml:4: host 'tc-0': property speed_bf16 = 'fast' is not a number of flop per second of at least 1" -- \
    "$dtsim" run "$tiny" --platform "$tmp/tc-bad.xml" --set train.precision=bf16 --out "$tmp/x"

# Recomputation (recompute = full): the same parameters, less memory, and
# one more forward of every layer but the output layer.
# shellcheck disable=SC2046
pair "gpt hybrid 1x2x2 recompute" "${gpt[@]}" $(on "$dgx" 4 hybrid) --set strategy.dp=1 \
    --set strategy.pp=2 --set strategy.tp=2 --set strategy.microbatches=4 --set train.recompute=full
grid=(--platform "$dgx" --set strategy.kind=hybrid --set strategy.dp=1 --set strategy.pp=2
    --set strategy.tp=2 --set cluster.workers=4 --set strategy.microbatches=4 --set train.steps=3)
for rc in none full; do
    "$dtsim" run "$tiny" "${gpt[@]}" "${grid[@]}" --set train.recompute=$rc --quiet --no-plot \
        --out "$tmp/rc-$rc" --save-model "$tmp/rc-$rc.bin" >"$tmp/rc-$rc.log" 2>&1 ||
        bad "recompute = $rc failed: $(tail -1 "$tmp/rc-$rc.log")"
done
same "$tmp/rc-none.bin" "$tmp/rc-full.bin" "GPT 1 x 2 x 2 with and without recomputation"
act() { json "$tmp/rc-$1/summary.json" '.hosts[0].memory_bytes.activations'; }
[ "$(act full)" -lt "$(act none)" ] && ok "recomputation: stage 0 keeps $(act full) bytes of activations, not $(act none)" ||
    bad "recomputation keeps $(act full) bytes of activations on stage 0 against $(act none)"
# the output layer alone on stage 1: stage 0 recomputes its whole forward,
# stage 1 nothing
two=(--platform "$dgx" --set strategy.kind=pipeline --set cluster.workers=2 --set strategy.split=22
    --set strategy.microbatches=2 --set train.steps=3 --set train.recompute=full)
if "$dtsim" run "$tiny" "${gpt[@]}" "${two[@]}" --quiet --no-plot --out "$tmp/rc-two" \
    >"$tmp/rc-two.log" 2>&1; then
    sums() { jq -r "[.traceEvents[] | select(.tid == $1 and .ph == \"X\")] as \$e
        | [\"forward\", \"recompute\"] | map(. as \$n | [\$e[] | select(.name == \$n) | .dur] | add // 0)
        | @tsv" "$tmp/rc-two/trace.json"; }
    read -r f0 r0 <<<"$(sums 0)"
    read -r f1 r1 <<<"$(sums 1)"
    awk -v f="$f0" -v r="$r0" -v r1="$r1" 'BEGIN { d = (r - f) / f; exit !(d < 1e-9 && d > -1e-9 && r1 == 0) }' &&
        ok "recomputation: stage 0 recomputes its whole forward ($r0 us against $f0 us), the output layer's stage nothing" ||
        bad "recomputation: stage 0 recomputes $r0 us of its $f0 us forward, stage 1 $r1 us (wanted all and none)"
else
    bad "recomputation on a pipeline failed: $(tail -1 "$tmp/rc-two.log")"
fi
expect 2 "recompute = full needs a strategy that runs stages" -- "$dtsim" check "$tiny" \
    --set train.recompute=full
expect 2 "recompute.*none full" -- "$dtsim" check "$tiny" --set train.recompute=some

# A GPT of 24 blocks of width 2048 (1.3 billion parameters: 5 GB of fp32
# parameters alone, 21 GB with gradients and Adam's moments) for one step
# on an 80 GB device, in cost mode: the resident set stays small.
cat >"$tmp/big.xml" <<'XML'
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="one" routing="Full">
    <host id="gpu0" speed="100Tf">
      <prop id="memory" value="80e9"/>
    </host>
  </zone>
</platform>
XML
big=(--platform "$tmp/big.xml" --set data.dataset=text --set model.kind=gpt --set model.layers=24 --set model.d_model=2048
    --set model.heads=16 --set model.seq_len=256 --set model.vocab=50257 --set train.batch=4
    --set train.steps=1 --set train.optimizer=adam --set train.compute=cost)
if /usr/bin/time -f %M -o "$tmp/rss" "$dtsim" run "$tiny" "${big[@]}" --quiet --no-plot \
    --out "$tmp/big" >"$tmp/big.log" 2>&1; then
    params=$(json "$tmp/big/summary.json" .parameters)
    awk -v kb="$(cat "$tmp/rss")" -v p="$params" 'BEGIN {
        printf "%s GPT of %.2f billion parameters (%.1f GB of fp32 parameters, gradients and Adam moments) in cost mode: peak RSS %.0f MiB\n",
            (kb < 262144 && p > 1e9) ? "ok:" : "FAILED:", p / 1e9, 16 * p / 1e9, kb / 1024
        exit !(kb < 262144 && p > 1e9) }' && pass=$((pass + 1)) || fail=$((fail + 1))
else
    bad "the 1.3B GPT in cost mode failed"
    head -5 "$tmp/big.log"
fi

# Bad input: exit 2, naming what to change.
expect 2 "nothing to save" -- "$dtsim" run "$tiny" --set train.compute=cost --out "$tmp/s" \
    --save-model "$tmp/model.bin"
expect 2 "compute.*(real|cost)" -- "$dtsim" check "$tiny" --set train.compute=fast
expect 2 "vocab" -- "$dtsim" check "$tiny" --set model.kind=gpt --set data.dataset=text \
    --set train.compute=cost
expect 2 "steps" -- "$dtsim" check "$tiny" --set model.kind=gpt --set data.dataset=text \
    --set model.vocab=64 --set train.compute=cost --set train.epochs=1 --set data.train_samples=0
expect 2 "out of memory|does not fit" -- "$dtsim" run "$tiny" "${big[@]}" --out "$tmp/oom" \
    --set model.d_model=12288 --set model.heads=96
checks_done
