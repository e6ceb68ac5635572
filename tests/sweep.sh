#!/usr/bin/env bash
# sweep.sh DTSIM SOURCE_DIR - dtsim sweep: speedup and efficiency on sweeps
# whose answer is known (data-parallel where communication costs nothing:
# speedup = workers, weak and strong scaling with linked values), one
# baseline for every group, named or by default, the same sweep.csv with
# --jobs 1 and --jobs 2, the plots chosen by what varies and their numbers,
# --print-commands lines that reproduce the runs, run by a shell and by GNU
# parallel and gathered with --collect, and bad input.
set -u
dtsim=$1
src=$(cd "$2" && pwd)
. "$(dirname "$0")/checks.sh"

tiny=$src/tests/scenarios/tiny.ini
ideal=(--cfg=network/model:CM02 --cfg=network/crosstraffic:0 --cfg=network/TCP-gamma:1e18)
# The 784-256-128-10 MLP at batch 64: large enough for OpenBLAS to thread its
# GEMMs, whose sums then change with the thread count (the sweep must not).
grid=(--platform "$src/tests/platforms/instant-8.xml" --set strategy.kind=data-parallel
      --set model.hidden=256,128 --set train.batch=64 --set train.steps=8
      --set data.train_samples=4096 "${ideal[@]}"
      --vary cluster.workers=1,2,4,8 --vary strategy.allreduce=ring,tree)

start=$(date +%s.%N)
expect 0 "8 runs" -- "$dtsim" sweep "$tiny" "${grid[@]}" --jobs 1 --out "$tmp/one"
mid=$(date +%s.%N)
expect 0 "8 runs" -- "$dtsim" sweep "$tiny" "${grid[@]}" --jobs 2 --out "$tmp/two"
end=$(date +%s.%N)
awk -v a="$start" -v b="$mid" -v c="$end" \
    'BEGIN { printf "note: --jobs 1 took %.2f s, --jobs 2 %.2f s (ratio %.2f)\n", b - a, c - b, (b - a) / (c - b) }'
expect 0 "" -- cmp "$tmp/one/sweep.csv" "$tmp/two/sweep.csv"

# The pictures, and the numbers they plot are sweep.csv's; the workers
# vary, so the scaling picture is speedup.png, drawn without a warning.
if command -v gnuplot >/dev/null; then
    for png in speedup time-split accuracy run-007/timeline; do
        expect 0 "PNG" -- head -c 4 "$tmp/one/$png.png"
    done
    expect 1 "" -- test -e "$tmp/one/scaling.png"
    expect 1 "" -- test -e "$tmp/one/sweep.log"
fi
# without gnuplot, the sweep still succeeds, with a note
expect 0 "note: gnuplot not found" -- env PATH=/nonexistent "$dtsim" sweep "$tiny" \
    --vary train.batch=8,16 --out "$tmp/noplot"
expect 0 "" -- test -s "$tmp/noplot/sweep.csv"
expect 0 "" -- cmp <(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "speedup") c = i; next }
    { print $c }' "$tmp/one/sweep.csv" | sort) \
    <(awk '!/^[#"]/ && NF >= 7 { print $3 }' "$tmp/one/plot-groups.dat" | sort)

# Known answer: speedup (throughput against 1 worker) = workers, efficiency 1.
check_speedup() {
    if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { s = $col["speedup"]; e = $col["efficiency"]; w = $col["workers"]
          if (s < w * 0.999 || s > w * 1.001 || e < 0.999 || e > 1.001) bad++ ; n++ }
        END { exit !(n == 8 && bad == 0) }' "$tmp/one/sweep.csv"; then
        ok "speedup = workers and efficiency = 1 within 0.1% on all 8 rows"
    else
        bad "speedup is not the worker count:"
        cut -d, -f2,4,15,16 "$tmp/one/sweep.csv" | sed 's/^/    /'
    fi
}
check_speedup

# A baseline the user names: every row against workers=2 with the tree,
# so speedup = workers / 2; by run number, the same table.
expect 0 "speedup against run-003 .workers=2 allreduce=tree." -- "$dtsim" sweep "$tiny" \
    "${grid[@]}" --no-plot --baseline strategy.allreduce=tree,cluster.workers=2 --out "$tmp/named"
expect 0 "" -- awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { r = $c["speedup"] / ($c["workers"] / 2); if (r < 0.999 || r > 1.001) bad++ }
    END { exit bad > 0 || NR != 9 }' "$tmp/named/sweep.csv"
expect 0 "" -- "$dtsim" sweep "$tiny" "${grid[@]}" --no-plot --baseline run-003 --out "$tmp/numbered"
expect 0 "" -- cmp "$tmp/named/sweep.csv" "$tmp/numbered/sweep.csv"

# Strong scaling: workers and batch linked, the global batch held at 1024;
# with free transfers the speedup is the workers' count (within 1%: the
# update, the same on every worker, does not shrink).
expect 0 "speedup against run-000 .workers=1 batch=1024." -- "$dtsim" sweep "$tiny" \
    --platform "$src/tests/platforms/instant-8.xml" --set strategy.kind=data-parallel \
    --set model.hidden=256,128 --set train.steps=4 --set train.eval_every=4 \
    --set data.train_samples=4096 --vary cluster.workers,train.batch=1:1024,2:512,4:256,8:128 \
    --out "$tmp/strong"
if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { w = $c["workers"]; s = $c["speedup"]; g = $c["samples_per_second"] * $c["seconds_per_step"]
      if (s < 0.99 * w || s > w * 1.0001 || g < 1023.9 || g > 1024.1 || $c["train.batch"] * w != 1024) bad++ }
    END { exit bad > 0 || NR != 5 }' "$tmp/strong/sweep.csv"; then
    ok "strong scaling at a global batch of 1024: speedup within 1% of the workers on 1, 2, 4, 8"
else
    bad "strong scaling: $(cut -d, -f2-4,14 "$tmp/strong/sweep.csv" | tr '\n' ' ')"
fi

# One baseline for all: a parameter server and data-parallel on a real
# network are both measured against the one run with the fewest workers,
# so speedups compare across strategies as throughputs do (each group
# against its own smallest run did not).
"$dtsim" sweep "$tiny" --platform "$src/platforms/cluster-10gbe.xml" --no-plot \
    --vary strategy.kind=parameter-server,data-parallel --vary cluster.workers=1,2,4 \
    --set train.steps=6 --out "$tmp/shared" >/dev/null 2>&1
if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { k = $c["samples_per_second"] / $c["speedup"]; if (n && (k / k0 > 1.000001 || k / k0 < 0.999999)) bad++
      if (!n) k0 = k; n++; ones += $c["speedup"] == 1 }
    END { exit !(n == 6 && bad == 0 && ones == 1) }' "$tmp/shared/sweep.csv"; then
    ok "one baseline for both strategies: speedup / samples per second the same on all 6 rows"
else
    bad "not one baseline: $(cut -d, -f2,3,7,15 "$tmp/shared/sweep.csv" | tr '\n' ' ')"
fi

# The pictures' shared styles: 40 curves get 40 different colour and dash
# pairs, and log axes read in powers of two (1/256, not 0.00390625).
if command -v gnuplot >/dev/null; then
    n=$(gnuplot -e "load '$src/plots/styles.gp'; do for [i=0:39] { print color(i).' '.dash(i) }" \
        2>&1 | sort -u | wc -l)
    if [ "$n" = 40 ]; then ok "40 curves, 40 styles"; else bad "40 curves, only $n styles"; fi
    expect 0 "^1/256 1/2 1 64$" -- gnuplot -e "load '$src/plots/styles.gp'; print pow2(-8).' '.pow2(-1).' '.pow2(0).' '.pow2(6)"
fi

# A sweep that does not vary the workers draws no speedup picture: its
# varied key goes on the x axis, with the strategy's own measure.
if command -v gnuplot >/dev/null; then
    expect 0 "scaling.png" -- "$dtsim" sweep "$tiny" --platform "$src/tests/platforms/instant-8.xml" \
        --set strategy.kind=pipeline --set cluster.workers=2 --set train.steps=4 \
        --vary strategy.microbatches=1,2,4 --out "$tmp/micro"
    expect 0 "PNG" -- head -c 4 "$tmp/micro/scaling.png"
    expect 1 "" -- test -e "$tmp/micro/speedup.png"
    expect 1 "" -- test -e "$tmp/micro/sweep.log"
    expect 0 "bubble_fraction" -- grep '^measures' "$tmp/micro/plot-settings.gp"
fi

# --print-commands: every line, run by a shell, gives the same run.
"$dtsim" sweep "$tiny" "${grid[@]}" --out "$tmp/printed" --print-commands >"$tmp/commands"
expect 0 "" -- test "$(wc -l <"$tmp/commands")" -eq 8
expect 0 "" -- sh "$tmp/commands"
same=0
for d in "$tmp"/one/run-*; do
    r=$(basename "$d")
    if cmp -s "$d/metrics.csv" "$tmp/printed/$r/metrics.csv" &&
        cmp -s <(grep -v wall_seconds "$d/summary.json") \
            <(grep -v wall_seconds "$tmp/printed/$r/summary.json"); then
        same=$((same + 1))
    fi
done
expect 0 "" -- test "$same" -eq 8

# The same lines through GNU parallel (two at a time, as it would spread
# them over machines with --sshloginfile), then --collect: sweep.csv as
# the in-process sweep's, byte for byte.
if command -v parallel >/dev/null; then
    "$dtsim" sweep "$tiny" "${grid[@]}" --out "$tmp/par" --print-commands >"$tmp/par-commands"
    expect 0 "" -- parallel --will-cite -j 2 --halt now,fail=1 :::: "$tmp/par-commands"
    expect 2 "--collect: run 0 of 8 has no results" -- "$dtsim" sweep "$tiny" "${grid[@]}" \
        --out "$tmp/nothing" --collect
    expect 0 "8 runs; table in $tmp/par/sweep.csv" -- "$dtsim" sweep "$tiny" "${grid[@]}" \
        --out "$tmp/par" --collect --no-plot
    expect 0 "" -- cmp "$tmp/one/sweep.csv" "$tmp/par/sweep.csv"
else
    bad "GNU parallel is not installed (Debian package parallel; .ci/install installs it)"
fi
expect 2 "give one of them" -- "$dtsim" sweep "$tiny" "${grid[@]}" --out "$tmp/par" --collect \
    --print-commands

# The strategies' own measures are columns: bytes per step for every run,
# the bubble of a pipeline, the staleness at a parameter server.
"$dtsim" sweep "$tiny" --platform "$src/tests/platforms/instant-8.xml" --no-plot \
    --vary strategy.kind=pipeline,parameter-server --set cluster.workers=2 \
    --set train.steps=8 --out "$tmp/measures" >/dev/null 2>&1
if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { b = $c["bytes_communicated"] / 8; if ($c["bytes_per_step"] != b) bad++
      if ($c["strategy.kind"] == "pipeline" && !($c["bubble_fraction"] > 0 && $c["bubble_fraction"] < 1)) bad++
      if ($c["strategy.kind"] == "parameter-server" && $c["staleness_mean"] == "") bad++
      n++ }
    END { exit !(n == 2 && bad == 0 && ("bubble_fraction" in c) && ("staleness_mean" in c)) }' \
    "$tmp/measures/sweep.csv"; then
    ok "sweep.csv has bytes_per_step, bubble_fraction and staleness_mean columns"
else
    bad "sweep.csv measures: $(head -3 "$tmp/measures/sweep.csv" 2>/dev/null)"
fi

# Bad input.
expect 2 "unknown key 'nope' in \[train\]" -- "$dtsim" sweep "$tiny" --vary train.nope=1,2 --out "$tmp/bad"
expect 2 "no values" -- "$dtsim" sweep "$tiny" --vary train.batch= --out "$tmp/bad"
expect 2 "needs at least one --vary" -- "$dtsim" sweep "$tiny" --out "$tmp/bad"
expect 2 "train.batch=0.*not valid" -- "$dtsim" sweep "$tiny" --vary train.batch=8,0 --out "$tmp/bad"
expect 2 "expected section.key=v1,v2" -- "$dtsim" sweep "$tiny" --vary workers --out "$tmp/bad"
expect 2 "2 parts joined by ':'" -- "$dtsim" sweep "$tiny" \
    --vary cluster.workers,train.batch=1:512,2 --out "$tmp/bad"
expect 2 "2 parts joined by ':'" -- "$dtsim" sweep "$tiny" \
    --vary cluster.workers,train.batch=1:512,2:4:8 --out "$tmp/bad"
expect 2 "the sweep has runs 0 to 1" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
    --baseline 9 --out "$tmp/bad"
expect 2 "no variant matches" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
    --baseline train.batch=32 --out "$tmp/bad"
expect 2 "train.lr is not a key the sweep varies" -- "$dtsim" sweep "$tiny" \
    --vary train.batch=8,16 --baseline train.lr=0.1 --out "$tmp/bad"
expect 2 "several variants match" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
    --vary train.lr=0.1,0.2 --baseline train.batch=8 --out "$tmp/bad"
expect 2 "--vary names train.batch twice" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
    --vary train.batch=32 --out "$tmp/bad"
expect 2 "--vary names train.batch twice" -- "$dtsim" sweep "$tiny" \
    --vary train.batch,train.batch=8:16 --out "$tmp/bad"
expect 2 "--vary cluster.hosts: the value 'node-1 .*' is too long" -- "$dtsim" sweep "$tiny" \
    --vary "cluster.hosts=$(seq -s ' ' -f 'node-%g' 1 60)" --out "$tmp/bad"
# a bad --cfg or platform stops the sweep before it runs or makes anything
expect 2 "Model 'Nope' is invalid" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
    --cfg=network/model:Nope --out "$tmp/bad-cfg"
expect 1 "" -- test -e "$tmp/bad-cfg"
echo "<platform/>" >"$tmp/bad.xml"
expect 2 "platform '$tmp/bad.xml' .or a --cfg option. is not valid" -- "$dtsim" sweep "$tiny" \
    --vary train.batch=8,16 --platform "$tmp/bad.xml" --out "$tmp/bad-platform"
expect 1 "" -- test -e "$tmp/bad-platform"
mkdir "$tmp/mine" && echo notes >"$tmp/mine/notes.txt"
expect 2 "did not write" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 --out "$tmp/mine"
# more cases of each class of bad input: a grid whose size wraps
expect 2 "the --vary grid has more than 4096 variants" -- "$dtsim" sweep "$tiny" \
    $(for k in train.seed train.batch train.eval_every train.steps data.train_samples \
      data.test_samples train.epochs train.checkpoint_every; do echo --vary "$k=$(seq -s, 64)"; done) \
    --out "$tmp/bad-grid" --print-commands
expect 1 "" -- test -e "$tmp/bad-grid"
expect 2 "the --vary grid has more than 4096 variants" -- "$dtsim" sweep "$tiny" \
    --vary "train.seed=$(seq -s, 64)" --vary "train.batch=$(seq -s, 65 128)" \
    --vary "train.eval_every=1,2" --out "$tmp/bad"
# argument arrays filled from the command line
expect 2 "at most 8 --vary options" -- "$dtsim" sweep "$tiny" $(printf -- '--vary train.seed=%d,9 ' $(seq 9)) \
    --out "$tmp/bad"
expect 2 "--vary train.seed: at most 64 values" -- "$dtsim" sweep "$tiny" --vary "train.seed=$(seq -s, 65)" \
    --out "$tmp/bad"
expect 2 "at most 4 linked keys" -- "$dtsim" sweep "$tiny" \
    --vary "train.seed,train.lr,train.batch,train.momentum,train.eval_every=1:0.1:8:0:1" --out "$tmp/bad"
expect 2 "--threads: at most 128 options \(with their values\) go to every run" -- "$dtsim" sweep \
    "$tiny" --vary train.batch=8,16 $(printf -- '--threads 1 %.0s' $(seq 65)) --out "$tmp/bad"
expect 0 "" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 $(printf -- '--force %.0s' $(seq 200)) \
    --out "$tmp/many-force" --print-commands
for bad in "--trace-ranks 0" "--threads abc"; do
    expect 2 "${bad%% *} ${bad#* }: give a number" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
        $bad --out "$tmp/bad-early"
done
expect 1 "" -- test -e "$tmp/bad-early"
expect 2 "at most 64 --set options" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
    $(printf -- '--set train.lr=0.1 %.0s' $(seq 64)) --out "$tmp/bad" --print-commands
expect 2 "unknown option '--cfgx' for dtsim sweep" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 \
    --cfgx a --out "$tmp/bad"
# values too long, options found only by the first run
expect 2 "--vary model.hidden: the value '8 8 8 .*' is too long \(model.hidden=VALUE takes at most 191 characters\)" -- \
    "$dtsim" sweep "$tiny" --vary "model.hidden=$(printf '8 %.0s' $(seq 90))" --out "$tmp/bad"
expect 2 "--vary data.path: the value '/.*' is too long" -- "$dtsim" sweep "$tiny" \
    --vary "train.batch,data.path=8:/$(printf 'a%.0s' $(seq 200)),16:/b" --out "$tmp/bad"
expect 2 "--cfg surf/precision:0: SimGrid's solver needs a small positive precision" -- "$dtsim" sweep "$tiny" \
    --vary train.batch=8,16 --cfg=surf/precision:0 --out "$tmp/bad-cfg2"
expect 1 "" -- test -e "$tmp/bad-cfg2"
mkfifo "$tmp/fifo" 2>/dev/null
expect 2 "platform '$tmp/fifo' is not a regular file" -- timeout 20 "$dtsim" sweep "$tiny" \
    --vary train.batch=8,16 --platform "$tmp/fifo" --out "$tmp/bad-fifo"
expect 2 "scenario '$tmp' is not a regular file" -- "$dtsim" sweep "$tmp" --vary train.batch=8,16 \
    --out "$tmp/bad-dir"
checks_done
