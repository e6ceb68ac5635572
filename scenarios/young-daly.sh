#!/usr/bin/env bash
# young-daly.sh [DTSIM [OUT]] - young-daly.ini (random failures, one
# checkpoint every N steps) swept over N; prints a Markdown table: for each
# N, the interval in simulated seconds, the failures, the seconds spent
# writing checkpoints, lost and in all; then Young's optimum sqrt(2 M C)
# from the runs' own figures (M the mean time between failures, C a
# checkpoint's write, a step's time) beside the best N of the sweep.  The
# sweep goes to OUT (default results/young-daly).
set -eu
dtsim=${1:-build/dtsim}
out=${2:-results/young-daly}
here=$(dirname "$0")
"$dtsim" sweep "$here/young-daly.ini" --vary train.checkpoint_every=15,30,60,120,240,480,960 \
    --out "$out" --force >/dev/null
echo "| checkpoint_every | interval (s) | failures | checkpointing (s) | lost (s) | simulated s in all |"
echo "|---|---|---|---|---|---|"
for s in "$out"/run-*/summary.json; do
    jq -r '.recovery as $r | ((.simulated_seconds - $r.checkpoint_seconds - $r.lost_seconds
        - $r.detect_seconds - $r.repair_wait_seconds - $r.restart_seconds) / .steps) as $step |
        "\($r.checkpoint_every) \($r.checkpoint_every * $step) \($r.failures) \($r.checkpoint_seconds) \($r.lost_seconds) \(.simulated_seconds)"' "$s"
done | sort -n | awk '{ printf "| %d | %.4f | %d | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $6 }'
jq -r -s 'map(.recovery as $r | {n: $r.checkpoint_every, t: .simulated_seconds,
        step: ((.simulated_seconds - $r.checkpoint_seconds - $r.lost_seconds - $r.detect_seconds
               - $r.repair_wait_seconds - $r.restart_seconds) / .steps),
        c: ($r.checkpoint_seconds / $r.checkpoints)}) as $runs |
    ($runs | min_by(.t)) as $best | ($runs[0].c) as $c | ($runs[0].step) as $step |
    (2 * 2 * $c | sqrt) as $opt |
    "Young: sqrt(2 M C) = sqrt(2 x 2 s x \($c * 1000 | . * 1000 | round / 1000) ms) = \($opt * 1000 | round / 1000) s = \($opt / $step | round) steps of \($step * 1e6 | round / 1000) ms; the sweep is fastest at checkpoint_every = \($best.n) (\($best.t * 100 | round / 100) simulated s)"' \
    "$out"/run-*/summary.json
