#!/usr/bin/env bash
# energy.sh DTSIM SOURCE_DIR - joules from SimGrid's energy plugins: on
# identical hosts of fixed wattage, each host's joules are idle x time +
# (peak - idle) x its compute time (within 0.1%); energy only watches (the
# same run on a platform without wattage gives the same parameters, times
# and trace); same bytes twice; a sweep tabulates it; wattage SimGrid
# would reject is bad input that names the property.
set -u
dtsim=$1
src=$2
. "$src/tests/checks.sh"
tiny=$src/tests/scenarios/tiny.ini

# watts_xml FILE WATTAGE: four identical hosts on one shared link that
# draws 10 W idle and 30 W when busy
watts_xml() {
    cat >"$1" <<XML
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="w" routing="Full">
    <host id="h0" speed="2Gf">$2</host>
    <host id="h1" speed="2Gf">$2</host>
    <host id="h2" speed="2Gf">$2</host>
    <host id="h3" speed="2Gf">$2</host>
    <link id="wire" bandwidth="1.25GBps" latency="20us">$3</link>
    <route src="h0" dst="h1"><link_ctn id="wire"/></route>
    <route src="h0" dst="h2"><link_ctn id="wire"/></route>
    <route src="h0" dst="h3"><link_ctn id="wire"/></route>
    <route src="h1" dst="h2"><link_ctn id="wire"/></route>
    <route src="h1" dst="h3"><link_ctn id="wire"/></route>
    <route src="h2" dst="h3"><link_ctn id="wire"/></route>
  </zone>
</platform>
XML
}
watts_xml "$tmp/watts.xml" '<prop id="wattage_per_state" value="50:250"/>' \
    '<prop id="wattage_range" value="10:30"/>'
watts_xml "$tmp/plain.xml" '' ''

run=(run "$tiny" --quiet --no-plot --set strategy.kind=data-parallel --set cluster.workers=4)

# Power x time per host: idle all along, plus peak - idle while computing.
expect 0 "" -- "$dtsim" "${run[@]}" --platform "$tmp/watts.xml" --out "$tmp/w" --save-model "$tmp/w.bin"
sum=$tmp/w/summary.json
verdict=$(json "$sum" '. as $s | .hosts[] | "\(.host) \(.joules) \(.compute_seconds) \($s.simulated_seconds)"' |
    awk '{ want = 50 * $4 + 200 * $3; e = ($2 - want) / want; e = e < 0 ? -e : e
           if (e > worst) worst = e; n++
           printf "%s %.9g J (power x time %.9g J); ", $1, $2, want }
         END { printf "worst error %.2e\n", worst; exit !(n == 4 && worst < 1e-3) }')
if [ $? -eq 0 ]; then ok "joules = power x time per host: $verdict"; else bad "joules against power x time: $verdict"; fi
verdict=$(json "$sum" '"\(.energy.devices_joules) \([.hosts[].joules] | add) \(.energy.links_joules) \(.simulated_seconds) \(.energy.total_joules) \(.measures.energy_joules)"' |
    awk '{ d = $1 - $2; d = d < 0 ? -d : d
           printf "devices %.6g J (hosts add to %.6g), link %.6g J in [%.6g, %.6g], total %.6g = measure %.6g\n", $1, $2, $3, 10 * $4, 30 * $4, $5, $6
           exit !(d <= 1e-9 * $1 && $3 >= 10 * $4 * (1 - 1e-9) && $3 <= 30 * $4 && $5 == $1 + $3 && $6 == $5) }')
if [ $? -eq 0 ]; then ok "energy section: $verdict"; else bad "energy section: $verdict"; fi
# metrics.csv: the devices' joules at each evaluation, growing
verdict=$(awk -F, 'NR == 1 { ok = $8 == "device_joules"; next }
    { if (!($8 > prev)) ok = 0; prev = $8; n++ } END { printf "%d rows, last %s J", n, prev; exit !(ok && n > 0) }' \
    "$tmp/w/metrics.csv")
if [ $? -eq 0 ]; then ok "metrics.csv device_joules: $verdict"; else bad "metrics.csv device_joules: $verdict"; fi

# Energy only watches: without wattage, everything else is the same.
expect 0 "" -- "$dtsim" "${run[@]}" --platform "$tmp/plain.xml" --out "$tmp/p" --save-model "$tmp/p.bin"
same "$tmp/w.bin" "$tmp/p.bin" "parameters with and without wattage"
same "$tmp/w/trace.json" "$tmp/p/trace.json" "trace with and without wattage"
cut -d, -f1-7 "$tmp/w/metrics.csv" >"$tmp/w.metrics"
same "$tmp/w.metrics" "$tmp/p/metrics.csv" "metrics.csv less device_joules"
strip='del(.wall_seconds, .energy, .measures.energy_joules, .hosts[].joules) | walk(if type == "object" then del(.platform) else . end)'
jq "$strip" "$tmp/w/summary.json" >"$tmp/w.summary"
jq "$strip" "$tmp/p/summary.json" >"$tmp/p.summary"
same "$tmp/w.summary" "$tmp/p.summary" "summary.json less energy"
[ "$(json "$tmp/p/summary.json" 'has("energy")')" = false ] && ok "no energy section without wattage" ||
    bad "an energy section without wattage"

# Same bytes twice (and whatever the thread count).
expect 0 "" -- "$dtsim" "${run[@]}" --platform "$tmp/watts.xml" --out "$tmp/w2" --threads 1
same "$tmp/w/metrics.csv" "$tmp/w2/metrics.csv" "energy run twice"
jq 'del(.wall_seconds)' "$tmp/w/summary.json" >"$tmp/w.s1"
jq 'del(.wall_seconds)' "$tmp/w2/summary.json" >"$tmp/w.s2"
same "$tmp/w.s1" "$tmp/w.s2" "energy run twice"

# A sweep tabulates it.
expect 0 "2 runs" -- "$dtsim" sweep "$tiny" --platform "$tmp/watts.xml" --set strategy.kind=data-parallel \
    --vary cluster.workers=2,4 --jobs 1 --out "$tmp/sweep"
head -1 "$tmp/sweep/sweep.csv" | grep -q energy_joules && ok "sweep.csv has energy_joules" ||
    bad "sweep.csv has no energy_joules: $(head -1 "$tmp/sweep/sweep.csv")"

# Wattage SimGrid would not read: exit 2, naming the host or line and the property.
bad_watts() { # bad_watts LABEL PATTERN HOSTPROPS LINKPROPS
    watts_xml "$tmp/bad.xml" "$3" "$4"
    expect 2 "$2" -- "$dtsim" "${run[@]}" --platform "$tmp/bad.xml" --out "$tmp/bad"
}
bad_watts "not a number" "host 'h0': property wattage_per_state = 'fifty:250'" \
    '<prop id="wattage_per_state" value="fifty:250"/>' ''
bad_watts "one value" "wattage_per_state = '250'.*IDLE:PEAK" '<prop id="wattage_per_state" value="250"/>' ''
bad_watts "four values" "wattage_per_state = '1:2:3:4'" '<prop id="wattage_per_state" value="1:2:3:4"/>' ''
bad_watts "two pstates for one" "1 pstate" '<prop id="wattage_per_state" value="50:250,40:200"/>' ''
bad_watts "negative" "wattage_per_state = '-5:250'" '<prop id="wattage_per_state" value="-5:250"/>' ''
bad_watts "off" "wattage_off = 'ten'" \
    '<prop id="wattage_per_state" value="50:250"/><prop id="wattage_off" value="ten"/>' ''
bad_watts "link" "bad.xml:9: property wattage_range = '10'" '' '<prop id="wattage_range" value="10"/>'
bad_watts "link, text" "wattage_range = '10:busy'" '' '<prop id="wattage_range" value="10:busy"/>'
# the property read whatever the order of its attributes, their quotes and lines
watts_xml "$tmp/bad.xml" '' '<prop value="10:busy"
    id='"'"'wattage_range'"'"'/>'
expect 2 "bad.xml:9: property wattage_range = '10:busy'" -- "$dtsim" "${run[@]}" \
    --platform "$tmp/bad.xml" --out "$tmp/bad"

# SimGrid models its plugins cannot run with: refused before they crash.
expect 2 "wattage_range.*network/model:ns-3" -- "$dtsim" "${run[@]}" --platform "$tmp/watts.xml" \
    --out "$tmp/bad" --cfg=network/model:ns-3
expect 2 "wattage_per_state.*cpu/optim:TI" -- "$dtsim" "${run[@]}" --platform "$tmp/watts.xml" \
    --out "$tmp/bad" --cfg=cpu/optim:TI

checks_done
