#!/usr/bin/env bash
# ps-time-to-accuracy.sh [DTSIM [TARGET [OUT]]] - scenarios/ps-modes.ini run
# as sync, async, ssp (staleness 2 and 4) and sync with one backup worker;
# prints a Markdown table: simulated seconds and updates applied when the
# test accuracy first reaches TARGET (default 0.83), the final accuracy and
# the staleness of the applied gradients.  Runs go to OUT (default
# results/ps-modes), one directory per mode; with gnuplot, OUT/curves.png
# shows the five accuracy curves and the target.  A crossing time is where
# a noisy curve first touches a line: the last bits of the arithmetic can
# move it by an evaluation interval, so read it with the curves.
set -eu
dtsim=${1:-build/dtsim}
target=${2:-0.83}
out=${3:-results/ps-modes}
here=$(dirname "$0")
echo "| mode | simulated s to $target | updates applied then | final test accuracy | simulated s in all | staleness mean / max |"
echo "|---|---|---|---|---|---|"
for mode in sync async ssp-2 ssp-4 sync+backup-1; do
    case $mode in
    sync) set -- ;;
    async) set -- --set strategy.mode=async ;;
    ssp-*) set -- --set strategy.mode=ssp --set strategy.staleness=${mode#ssp-} ;;
    sync+backup-*) set -- --set strategy.backup_workers=${mode#sync+backup-} ;;
    esac
    "$dtsim" run "$here/ps-modes.ini" --quiet --no-plot --out "$out/$mode" "$@"
    reach=$(awk -F, -v t="$target" 'NR > 1 && $6 >= t { printf "%.3f | %d", $3, $7; f = 1; exit }
        END { if (!f) printf "not reached | -" }' "$out/$mode/metrics.csv")
    last=$(tail -1 "$out/$mode/metrics.csv" | awk -F, '{ printf "%.4f | %.3f", $6, $3 }')
    stale=$(tr -d ' \t\n' <"$out/$mode/summary.json" |
        sed 's/.*"staleness":{[^}]*"mean":\([^,]*\),"max":\([^,]*\),.*/\1 \2/' |
        awk '{ printf "%.2f / %d", $1, $2 }')
    echo "| $mode | $reach | $last | $stale |"
done
if command -v gnuplot >/dev/null; then
    gnuplot -e "dirs='$out/sync $out/async $out/ssp-2 $out/ssp-4 $out/sync+backup-1'" \
        -e "labels='sync async ssp-2 ssp-4 sync+backup-1'; out='$out/curves.png'" \
        -e "target=$target; title='ps-modes.ini: test accuracy over simulated time'" \
        -e "plots='$here/../plots'" \
        "$here/../plots/curves.gp"
fi
