#!/usr/bin/env bash
# recovery.sh DTSIM SOURCE_DIR - a host that fails mid-run: with
# checkpoints the job restarts from the last one and ends with the
# parameters of the run without the failure, bit for bit, and its
# simulated time exceeds that run's by exactly the checkpoint writes, the
# work lost, the wait until the job notices and the host is back, and the
# restart (summary.json's parts); without a checkpoint (or a repair) it
# stops with exit 1 naming the host and the time, its results up to then
# written; the same bytes twice; bad input exits 2 naming the key.
set -u
dtsim=$1
src=$2
. "$src/tests/checks.sh"
tiny=$src/tests/scenarios/tiny.ini

# Four workers, a spare (h4) and a storage host; h0 has a disk (100 MB/s
# write, 200 read).
cat >"$tmp/p.xml" <<'XML'
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="w" routing="Full">
    <host id="h0" speed="2Gf"><disk id="ssd" read_bw="200MBps" write_bw="100MBps"/></host>
    <host id="h1" speed="2Gf"/>
    <host id="h2" speed="2Gf"/>
    <host id="h3" speed="2Gf"/>
    <host id="h4" speed="2Gf"/>
    <host id="store" speed="1Gf"/>
    <link id="wire" bandwidth="1.25GBps" latency="20us"/>
    <link id="slow" bandwidth="100MBps" latency="100us"/>
    <route src="h0" dst="h1"><link_ctn id="wire"/></route>
    <route src="h0" dst="h2"><link_ctn id="wire"/></route>
    <route src="h0" dst="h3"><link_ctn id="wire"/></route>
    <route src="h1" dst="h2"><link_ctn id="wire"/></route>
    <route src="h1" dst="h3"><link_ctn id="wire"/></route>
    <route src="h2" dst="h3"><link_ctn id="wire"/></route>
    <route src="h0" dst="store"><link_ctn id="slow"/></route>
    <route src="h1" dst="store"><link_ctn id="slow"/></route>
    <route src="h2" dst="store"><link_ctn id="slow"/></route>
    <route src="h3" dst="store"><link_ctn id="slow"/></route>
    <route src="h0" dst="h4"><link_ctn id="wire"/></route>
    <route src="h1" dst="h4"><link_ctn id="wire"/></route>
    <route src="h2" dst="h4"><link_ctn id="wire"/></route>
    <route src="h3" dst="h4"><link_ctn id="wire"/></route>
    <route src="h4" dst="store"><link_ctn id="slow"/></route>
  </zone>
</platform>
XML

# close A B LABEL: two numbers equal to 1e-9 relative
close() {
    if awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; d = d < 0 ? -d : d; exit !(d <= 1e-9 * (b < 0 ? -b : b) + 1e-15) }'; then
        ok "$3: $1 = $2"
    else
        bad "$3: $1 != $2"
    fi
}

# case NAME ARGS...: the plain run, with checkpoints, and with a failure
check_case() {
    local name=$1
    shift
    local run=(run "$tiny" --quiet --no-plot --platform "$tmp/p.xml" "$@")
    local failure=(--set train.checkpoint_every=10 --set "faults.fail=h${FAILING:-2} ${AT:-0.05} 0.01"
                --set faults.detect=0.002 --set faults.restart=0.003)
    expect 0 "" -- "$dtsim" "${run[@]}" --out "$tmp/$name-plain" --save-model "$tmp/$name-plain.bin"
    expect 0 "" -- "$dtsim" "${run[@]}" --out "$tmp/$name-ck" --set train.checkpoint_every=10
    expect 0 "" -- "$dtsim" "${run[@]}" --out "$tmp/$name-fail" --save-model "$tmp/$name-fail.bin" "${failure[@]}"
    local plain=$tmp/$name-plain/summary.json ck=$tmp/$name-ck/summary.json f=$tmp/$name-fail/summary.json
    close "$(json "$ck" .simulated_seconds)" \
        "$(json "$plain" ". as \$p | \$p.simulated_seconds + $(json "$ck" .recovery.checkpoint_seconds)")" \
        "$name: checkpoints cost their writes"
    [ "$(json "$f" .recovery.failures)" = 1 ] && [ "$(json "$f" .recovery.lost_steps)" -gt 0 ] &&
        ok "$name: one failure, $(json "$f" .recovery.lost_steps) steps lost" ||
        bad "$name: failures $(json "$f" .recovery.failures), lost steps $(json "$f" .recovery.lost_steps)"
    same "$tmp/$name-plain.bin" "$tmp/$name-fail.bin" "$name: parameters after a failure and a restart"
    cut -d, -f1,2,4-7 "$tmp/$name-plain/metrics.csv" >"$tmp/$name-plain.learned"
    cut -d, -f1,2,4-7 "$tmp/$name-fail/metrics.csv" >"$tmp/$name-fail.learned"
    same "$tmp/$name-plain.learned" "$tmp/$name-fail.learned" "$name: losses and accuracies"
    close "$(json "$f" .simulated_seconds)" \
        "$(json "$f" ".recovery | $(json "$plain" .simulated_seconds) + .checkpoint_seconds + .lost_seconds + .detect_seconds + .repair_wait_seconds + .restart_seconds")" \
        "$name: time = plain + checkpoints + lost + detect + repair + restart"
}

check_case data-parallel --set strategy.kind=data-parallel --set cluster.workers=4 \
    --set cluster.hosts=h0,h1,h2,h3
check_case overlap --set strategy.kind=data-parallel --set cluster.workers=4 \
    --set cluster.hosts=h0,h1,h2,h3 --set strategy.overlap=on --set strategy.bucket_mb=0.02
FAILING=0 AT=0.02 check_case serial --set cluster.hosts=h0
check_case storage --set strategy.kind=data-parallel --set cluster.workers=4 \
    --set cluster.hosts=h0,h1,h2,h3 --set train.checkpoint_to=store
# the restart reads the checkpoint back: from the disk at 200 MB/s
f=$tmp/data-parallel-fail/summary.json
close "$(json "$f" .recovery.restart_seconds)" "$(json "$f" '0.003 + .recovery.checkpoint_bytes / 2e8')" \
    "restart = relaunch + the checkpoint read from disk"

# random-k draws its coordinates by the all-reduce's number: after a
# restart, the same ones as without the failure
expect 0 "" -- "$dtsim" run "$tiny" --quiet --no-plot --platform "$tmp/p.xml" --set strategy.kind=data-parallel \
    --set cluster.workers=4 --set cluster.hosts=h0,h1,h2,h3 --set strategy.compress=randomk \
    --set strategy.ratio=0.1 --set strategy.error_feedback=off --out "$tmp/rk" --save-model "$tmp/rk.bin"
expect 0 "" -- "$dtsim" run "$tiny" --quiet --no-plot --platform "$tmp/p.xml" --set strategy.kind=data-parallel \
    --set cluster.workers=4 --set cluster.hosts=h0,h1,h2,h3 --set strategy.compress=randomk \
    --set strategy.ratio=0.1 --set strategy.error_feedback=off --out "$tmp/rk-fail" \
    --save-model "$tmp/rk-fail.bin" --set train.checkpoint_every=10 --set "faults.fail=h2 0.05 0.01"
same "$tmp/rk.bin" "$tmp/rk-fail.bin" "random-k: parameters after a failure and a restart"
[ "$(json "$tmp/rk/summary.json" .compression.compression_ratio)" = "$(json "$tmp/rk-fail/summary.json" .compression.compression_ratio)" ] &&
    ok "random-k: the compression ratio a restart leaves unchanged" ||
    bad "random-k: compression ratio $(json "$tmp/rk/summary.json" .compression.compression_ratio) against $(json "$tmp/rk-fail/summary.json" .compression.compression_ratio) after a restart"

# The platform's own host state profiles are failures as [faults] fail
# gives them: h2 off at 0.05 s and back at 0.06 s by its state_file (read
# from the platform's directory, run from elsewhere, while h3's speed
# profile beside it still resolves) is the data-parallel case's failure,
# byte for byte; a profile that repeats (LOOPAFTER) strikes again
mkdir -p "$tmp/prof" "$tmp/elsewhere" "$tmp/t"
sed -e 's|<host id="h2" speed="2Gf"/>|<host id="h2" speed="2Gf" state_file="h2.profile"/>|' \
    -e 's|<host id="h3" speed="2Gf"/>|<host id="h3" speed="2Gf" speed_file="h3.speed"/>|' \
    "$tmp/p.xml" >"$tmp/prof/p.xml"
printf '0 1\n0.05 0\n0.06 1\n' >"$tmp/prof/h2.profile"
printf '0 1.0\n' >"$tmp/prof/h3.speed"
abs_dtsim=$(cd "$(dirname "$dtsim")" && pwd)/$(basename "$dtsim")
abs_tiny=$(cd "$(dirname "$tiny")" && pwd)/$(basename "$tiny")
prof=(run "$abs_tiny" --quiet --no-plot --set strategy.kind=data-parallel --set cluster.workers=4
      --set cluster.hosts=h0,h1,h2,h3 --set faults.detect=0.002 --set faults.restart=0.003)
expect 0 "" -- env -C "$tmp/elsewhere" TMPDIR="$tmp/t" "$abs_dtsim" "${prof[@]}" \
    --platform ../prof/p.xml --set train.checkpoint_every=10 --out "$tmp/prof-run" \
    --save-model "$tmp/prof-run.bin"
for file in metrics.csv trace.json; do
    same "$tmp/data-parallel-fail/$file" "$tmp/prof-run/$file" "a state profile's failure against [faults] fail's"
done
same "$tmp/data-parallel-plain.bin" "$tmp/prof-run.bin" "a state profile's failure: parameters after the restart"
# (the repair, 0.06 - 0.05, is 0.01 to the last bits)
parts='del(.settings, .wall_seconds, .platform, .scenario, .kernel_seconds, .overhead,
    .recovery.repair_wait_seconds, .recovery.restart_seconds)'
jq -S "$parts" "$tmp/data-parallel-fail/summary.json" >"$tmp/fail.sum"
jq -S "$parts" "$tmp/prof-run/summary.json" >"$tmp/prof.sum"
same "$tmp/fail.sum" "$tmp/prof.sum" "a state profile's failure: summary.json"
for part in repair_wait_seconds restart_seconds; do
    close "$(json "$tmp/prof-run/summary.json" .recovery.$part)" \
        "$(json "$tmp/data-parallel-fail/summary.json" .recovery.$part)" "a state profile's failure: $part"
done
[ -z "$(ls -A "$tmp/t")" ] && ok "the platform's copy without state files is gone after the run" ||
    bad "left in TMPDIR: $(ls "$tmp/t")"
expect 0 "host h2's by its state profile \(the first at 0.05 s\)" -- "$dtsim" check "$tiny" \
    --platform "$tmp/prof/p.xml" --set strategy.kind=data-parallel --set cluster.workers=4 \
    --set cluster.hosts=h0,h1,h2,h3 --set train.checkpoint_every=10
# the same profile with CR line ends, after a comment longer than any
# buffer, and beside a commented-out host that names another profile
{ printf '# %05000d 0.01 0\r' 0; printf '0 1\r0.05 0\r0.06 1\r'; } >"$tmp/prof/h2.profile"
sed -e 's|<host id="h4" speed="2Gf"/>|<host id="h4" speed="2Gf"/><!-- <host id="h1" speed="2Gf" state_file="h2.profile"/> -->|' \
    "$tmp/prof/p.xml" >"$tmp/prof/pc.xml"
expect 0 "" -- "$dtsim" "${prof[@]}" --platform "$tmp/prof/pc.xml" --set train.checkpoint_every=10 \
    --out "$tmp/prof-cr"
same "$tmp/data-parallel-fail/metrics.csv" "$tmp/prof-cr/metrics.csv" \
    "a state profile with CR line ends and a long comment"
# two hosts off together are one failure; an outage that ends while the
# job is down for another is none
sed -e 's|<host id="h1" speed="2Gf"/>|<host id="h1" speed="2Gf" state_file="h2.profile"/>|' \
    "$tmp/prof/p.xml" >"$tmp/prof/p2.xml"
expect 0 "" -- "$dtsim" "${prof[@]}" --platform "$tmp/prof/p2.xml" --set train.checkpoint_every=10 \
    --out "$tmp/prof-two"
[ "$(json "$tmp/prof-two/summary.json" .recovery.failures)" = 1 ] &&
    close "$(json "$tmp/prof-two/summary.json" .simulated_seconds)" \
        "$(json "$tmp/data-parallel-fail/summary.json" .simulated_seconds)" "two hosts off together: one failure" ||
    bad "two hosts off together: $(json "$tmp/prof-two/summary.json" .recovery.failures) failures"
expect 0 "" -- "$dtsim" "${prof[@]}" --platform "$tmp/prof/p.xml" --set train.checkpoint_every=10 \
    --set "faults.fail=h1 0.02 0.2" --out "$tmp/prof-over"
[ "$(json "$tmp/prof-over/summary.json" .recovery.failures)" = 1 ] &&
    ok "an outage over while the job is down for another: one failure" ||
    bad "an outage over while the job is down: $(json "$tmp/prof-over/summary.json" .recovery.failures) failures"
# a sweep takes a platform with state profiles
expect 0 "" -- "$dtsim" sweep "$tiny" --platform "$tmp/prof/p.xml" --out "$tmp/prof-sweep" \
    --set strategy.kind=data-parallel --set cluster.workers=4 --set cluster.hosts=h0,h1,h2,h3 \
    --set train.checkpoint_every=10 --vary train.lr=0.05,0.1
# a peer's state profile is followed as a host's
cat >"$tmp/prof/peer.xml" <<'XML'
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="v" routing="Vivaldi">
    <peer id="p1" coordinates="0 0 0" speed="2Gf" bw_in="1GBps" bw_out="1GBps"
          state_file="peer.profile"/>
  </zone>
</platform>
XML
printf '0.01 0\n' >"$tmp/prof/peer.profile"
expect 1 "host 'p1' failed at 0.01 simulated s" -- "$dtsim" run "$tiny" --quiet --no-plot \
    --platform "$tmp/prof/peer.xml" --out "$tmp/prof-peer"
printf '0.03 0\n0.035 1\nLOOPAFTER 0.05\n' >"$tmp/prof/h2.profile"
expect 0 "" -- "$dtsim" "${prof[@]}" --platform "$tmp/prof/p.xml" --set train.checkpoint_every=10 \
    --out "$tmp/prof-loop" --save-model "$tmp/prof-loop.bin"
n=$(json "$tmp/prof-loop/summary.json" .recovery.failures)
[ "$n" -ge 2 ] && ok "a repeating state profile: $n failures" || bad "a repeating state profile: $n failures"
same "$tmp/data-parallel-plain.bin" "$tmp/prof-loop.bin" "a repeating state profile: parameters"
expect 1 "host 'h2' failed at 0.03 simulated s .*no checkpoint" -- "$dtsim" "${prof[@]}" \
    --platform "$tmp/prof/p.xml" --out "$tmp/prof-stop"
expect 0 "" -- "$dtsim" "${prof[@]}" --platform "$tmp/prof/p.xml" --set cluster.workers=2 \
    --set cluster.hosts=h0,h1 --out "$tmp/prof-unused"
[ "$(json "$tmp/prof-unused/summary.json" .recovery)" = null ] &&
    ok "a state profile of a host no rank uses changes nothing" ||
    bad "a state profile of an unused host: recovery $(json "$tmp/prof-unused/summary.json" .recovery)"
# failures faster than the checkpoints: the run stops instead of looping
printf '0.03 0\n0.031 1\nLOOPAFTER 0.001\n' >"$tmp/prof/h2.profile"
expect 1 "100 failures in a row have struck before the job could get past step" -- \
    "$dtsim" "${prof[@]}" --platform "$tmp/prof/p.xml" --set train.checkpoint_every=30 \
    --out "$tmp/prof-stalled"
# what SimGrid would refuse, and what dtsim does not follow, exit 2
printf '0 1\n0.05 0\n0.01 1\n' >"$tmp/prof/h2.profile"
expect 2 "h2.profile:3: host h2's state profile: date 0.01 is before the line above's" -- \
    "$dtsim" "${prof[@]}" --platform "$tmp/prof/p.xml" --out "$tmp/bad"
printf 'STOCHASTIC\nEXP 1 DET 0\n' >"$tmp/prof/h2.profile"
expect 2 "h2.profile:1: .*stochastic profiles" -- "$dtsim" "${prof[@]}" --platform "$tmp/prof/p.xml" \
    --out "$tmp/bad"
printf '0.05 0\n0.06 1\nLOOPAFTER -1\n' >"$tmp/prof/h2.profile"
expect 2 "h2.profile:3: .*LOOPAFTER must be a number of 0 or more" -- "$dtsim" "${prof[@]}" \
    --platform "$tmp/prof/p.xml" --out "$tmp/bad"
rm "$tmp/prof/h2.profile"
expect 2 "cannot read host h2's state profile '.*h2.profile'" -- "$dtsim" "${prof[@]}" \
    --platform "$tmp/prof/p.xml" --out "$tmp/bad"
printf '0.05 0\n0.06 1\n' >"$tmp/prof/h2.profile"
expect 2 "host h2, on which a rank runs, goes off at 0.05 s by its state profile .*strategy pipeline cannot restart" -- \
    "$dtsim" run "$tiny" --quiet --platform "$tmp/prof/p.xml" --set strategy.kind=pipeline \
    --set cluster.workers=2 --set cluster.hosts=h1,h2 --set strategy.stages=2 \
    --set model.hidden=32,16 --out "$tmp/bad"

# Same bytes twice.
dp=(run "$tiny" --quiet --no-plot --platform "$tmp/p.xml" --set strategy.kind=data-parallel
    --set cluster.workers=4 --set cluster.hosts=h0,h1,h2,h3)
expect 0 "" -- "$dtsim" "${dp[@]}" --out "$tmp/again" --set train.checkpoint_every=10 \
    --set "faults.fail=h2 0.05 0.01" --set faults.detect=0.002 --set faults.restart=0.003
for file in metrics.csv trace.json; do
    same "$tmp/data-parallel-fail/$file" "$tmp/again/$file" "a failure run twice"
done

# No checkpoint, or no repair: exit 1 naming the host and the time, the
# results up to the failure written.
expect 1 "host 'h2' failed at 0.05 simulated s .*no checkpoint" -- "$dtsim" "${dp[@]}" \
    --out "$tmp/stop" --set "faults.fail=h2 0.05 0.01"
[ -s "$tmp/stop/metrics.csv" ] && [ "$(json "$tmp/stop/summary.json" .recovery.stopped_at)" = 0.05 ] &&
    ok "stopped run: results written, stopped_at 0.05, $(json "$tmp/stop/summary.json" .recovery.steps_done) steps done" ||
    bad "stopped run: no results"
expect 1 "host 'h2' failed at 0.05 .*no checkpoint" -- "$dtsim" "${dp[@]}" --out "$tmp/stop3" \
    --set "faults.fail=h2 0.05" --set strategy.compress=topk
expect 1 "host 'h3' failed at 0.02 .*not repaired" -- "$dtsim" "${dp[@]}" --out "$tmp/stop2" \
    --set train.checkpoint_every=10 --set "faults.fail=h3 0.02"

# Elastic: without a checkpoint or a repair, the three survivors go on at
# the same global batch from the last step all had finished, and say so.
expect 0 "1 failure: .*3 workers at the end" -- "$dtsim" run "$tiny" --no-plot --platform "$tmp/p.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=4 --set cluster.hosts=h0,h1,h2,h3 --out "$tmp/elastic" \
    --set "faults.fail=h2 0.05" --set faults.elastic=on --set faults.detect=0.002 \
    --set faults.restart=0.003
e=$tmp/elastic/summary.json
verdict=$(jq -r --slurpfile p "$tmp/data-parallel-plain/summary.json" \
    '"\(.recovery.elastic_shrinks) \(.recovery.workers_at_end) \(.recovery.lost_steps) \(.test_accuracy) \($p[0].test_accuracy)"' "$e")
if awk -v v="$verdict" 'BEGIN { split(v, a, " "); d = a[4] - a[5]; d = d < 0 ? -d : d
        exit !(a[1] == 1 && a[2] == 3 && a[3] == 0 && d <= 0.01) }'; then
    ok "elastic: shrinks, workers, steps lost, accuracy against plain: $verdict"
else
    bad "elastic: shrinks, workers, steps lost, accuracy against plain: $verdict"
fi
[ "$(json "$e" '[.hosts[].host] | join(",")')" = h0,h1,h2,h3 ] && ok "elastic: every host keeps its figures" ||
    bad "elastic: hosts $(json "$e" '[.hosts[].host] | join(",")')"

# A spare takes the failed host's place at once: no wait for the repair,
# the same parameters as without the failure.
expect 0 "" -- "$dtsim" "${dp[@]}" --out "$tmp/spare" --save-model "$tmp/spare.bin" \
    --set "faults.fail=h2 0.05" --set faults.spares=1 --set train.checkpoint_every=10 \
    --set train.checkpoint_to=store
[ "$(json "$tmp/spare/summary.json" '"\(.recovery.spares_used) \(.recovery.repair_wait_seconds)"')" = "1 0" ] &&
    ok "spare used, no repair wait" || bad "spare: $(json "$tmp/spare/summary.json" .recovery)"
same "$tmp/data-parallel-plain.bin" "$tmp/spare.bin" "parameters after a restart on a spare"
[ "$(json "$tmp/spare/summary.json" '[.hosts[].host] | join(",")')" = h0,h1,h2,h3,h4 ] &&
    ok "spare: the spare has figures of its own" ||
    bad "spare: hosts $(json "$tmp/spare/summary.json" '[.hosts[].host] | join(",")')"

# A spare that its state profile has off is passed over: the job waits
# for the repair instead (no spare used, h2 back after 0.01 s)
sed -e 's|<host id="h4" speed="2Gf"/>|<host id="h4" speed="2Gf" state_file="h4.profile"/>|' \
    "$tmp/p.xml" >"$tmp/prof/p4.xml"
printf '0 0\n' >"$tmp/prof/h4.profile"
expect 0 "" -- "$dtsim" "${dp[@]}" --platform "$tmp/prof/p4.xml" --out "$tmp/spare-off" \
    --save-model "$tmp/spare-off.bin" --set "faults.fail=h2 0.05 0.01" --set faults.spares=1 \
    --set train.checkpoint_every=10 --set train.checkpoint_to=store
[ "$(json "$tmp/spare-off/summary.json" '"\(.recovery.spares_used) \(.recovery.failures)"')" = "0 1" ] &&
    ok "a spare its state profile has off is passed over: the job restarts on h2, repaired" ||
    bad "a spare that is off: $(json "$tmp/spare-off/summary.json" .recovery)"
same "$tmp/data-parallel-plain.bin" "$tmp/spare-off.bin" "parameters when the spare is off"

# A failure while the job is down for another, and one of a host the job
# left, strike nothing twice; the storage's actor is back after each.
expect 0 "" -- "$dtsim" "${dp[@]}" --out "$tmp/twice" --set train.checkpoint_every=10 \
    --set train.checkpoint_to=store --set "faults.fail=h1 0.05 0.01" --set "faults.fail=h2 0.05 0.01" \
    --set faults.detect=0.002 --set faults.restart=0.003
[ "$(json "$tmp/twice/summary.json" .recovery.failures)" = 2 ] && ok "two failures at once: two restarts" ||
    bad "two failures at once: $(json "$tmp/twice/summary.json" .recovery)"
expect 0 "3 workers at the end" -- "$dtsim" run "$tiny" --no-plot --platform "$tmp/p.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=4 --set cluster.hosts=h0,h1,h2,h3 \
    --out "$tmp/left" --set "faults.fail=h2 0.05" --set "faults.fail=h2 0.08" --set faults.elastic=on \
    --set train.checkpoint_every=10 --set train.checkpoint_to=store
[ "$(json "$tmp/left/summary.json" '"\(.recovery.failures) \(.recovery.repair_wait_seconds)"')" = "1 0" ] &&
    ok "elastic: no wait for a repair, and the host the job left fails for nothing" ||
    bad "elastic twice: $(json "$tmp/left/summary.json" .recovery)"

# Young/Daly: under random failures (mtbf), the checkpoint interval that
# takes the least simulated time is within a factor of two of sqrt(2 M C).
yd=("$src/scenarios/young-daly.ini" --set train.steps=30000)
expect 0 "5 runs" -- "$dtsim" sweep "${yd[@]}" --vary train.checkpoint_every=30,60,120,240,480 \
    --jobs 2 --out "$tmp/yd"
verdict=$(jq -r -s 'map(.recovery as $r | {n: $r.checkpoint_every, t: .simulated_seconds,
        step: ((.simulated_seconds - $r.checkpoint_seconds - $r.lost_seconds - $r.detect_seconds
               - $r.repair_wait_seconds - $r.restart_seconds) / .steps),
        c: ($r.checkpoint_seconds / $r.checkpoints), f: $r.failures}) as $runs |
    ($runs | min_by(.t)) as $best | ((2 * 2 * $runs[0].c | sqrt) / $runs[0].step) as $opt |
    "\($best.n / $opt) best checkpoint_every \($best.n) (\($best.t) s), sqrt(2 M C) = \($opt) steps, failures \([$runs[].f])"' \
    "$tmp"/yd/run-*/summary.json)
if awk -v r="${verdict%% *}" 'BEGIN { exit !(r >= 0.5 && r <= 2) }'; then
    ok "Young/Daly: ${verdict#* }"
else
    bad "Young/Daly: ${verdict#* } (ratio ${verdict%% *})"
fi
# the failures mtbf draws follow the seed
expect 0 "" -- "$dtsim" run "${yd[@]}" --quiet --no-plot --out "$tmp/yd-a"
expect 0 "" -- "$dtsim" run "${yd[@]}" --quiet --no-plot --out "$tmp/yd-b"
expect 0 "" -- "$dtsim" run "${yd[@]}" --quiet --no-plot --out "$tmp/yd-c" --set train.seed=2
same "$tmp/yd-a/metrics.csv" "$tmp/yd-b/metrics.csv" "mtbf failures, same seed"
same "$tmp/yd-a/trace.json" "$tmp/yd-b/trace.json" "mtbf failures, same seed"
[ "$(json "$tmp/yd-a/summary.json" .simulated_seconds)" != "$(json "$tmp/yd-c/summary.json" .simulated_seconds)" ] &&
    ok "another seed draws other failures" || bad "another seed drew the same failures"

# Bad input.
expect 2 "fail names host 'h9', which platform .* does not have" -- "$dtsim" "${dp[@]}" \
    --out "$tmp/bad" --set "faults.fail=h9 1"
expect 2 "fail names host 'store', on which no rank runs" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set "faults.fail=store 1"
expect 2 "\[faults\] fail = 'h1 -1' is not valid" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set "faults.fail=h1 -1"
expect 2 "\[train\] checkpoint_every = '0' is not valid" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set train.checkpoint_every=0
expect 2 "checkpoint_to = disk, but host 'h1' of rank 0 has no disk" -- "$dtsim" "${dp[@]}" \
    --out "$tmp/bad" --set train.checkpoint_every=5 --set cluster.hosts=h1,h2,h3,h0
expect 2 "checkpoint_to = nas: platform .* has no such host" -- "$dtsim" "${dp[@]}" \
    --out "$tmp/bad" --set train.checkpoint_every=5 --set train.checkpoint_to=nas
expect 2 "strategy pipeline cannot checkpoint" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set strategy.kind=pipeline --set train.checkpoint_every=5
expect 2 "strategy gossip cannot stop at a failed host" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set strategy.kind=gossip --set "faults.fail=h1 1"
expect 2 "spares = 3, but platform .* has only 2 hosts on which no rank runs" -- "$dtsim" "${dp[@]}" \
    --out "$tmp/bad" --set faults.spares=3
expect 2 "checkpoint_to = disk with \[faults\] spares" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set faults.spares=1 --set train.checkpoint_every=5
expect 2 "strategy serial cannot go on with fewer workers" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set strategy.kind=serial --set cluster.workers=1 --set faults.elastic=on
expect 2 "\[faults\] mtbf = '0' is not valid" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set faults.mtbf=0
expect 2 "a residual: error_feedback = on" -- "$dtsim" "${dp[@]}" --out "$tmp/bad" \
    --set train.checkpoint_every=5 --set strategy.compress=topk
expect 2 "compress = powersgd keeps state in every worker \(its factors Q" -- "$dtsim" "${dp[@]}" \
    --out "$tmp/bad" --set faults.elastic=on --set strategy.compress=powersgd \
    --set strategy.error_feedback=off

# a storage host the ranks cannot reach
cat >"$tmp/noroute.xml" <<'XML'
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="w" routing="Full">
    <host id="h0" speed="2Gf"/>
    <host id="h1" speed="2Gf"/>
    <host id="store" speed="2Gf"/>
    <link id="wire" bandwidth="1.25GBps" latency="20us"/>
    <route src="h0" dst="h1"><link_ctn id="wire"/></route>
  </zone>
</platform>
XML
expect 2 "no route from every rank's host to host 'store'.*checkpoint_to" -- "$dtsim" run "$tiny" \
    --quiet --platform "$tmp/noroute.xml" --set strategy.kind=data-parallel --set cluster.workers=2 \
    --set train.checkpoint_every=5 --set train.checkpoint_to=store --out "$tmp/bad"

checks_done
