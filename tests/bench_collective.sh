#!/usr/bin/env bash
# bench_collective.sh BENCH [COUNT] [ALLREDUCES] - simulated messages per wall
# second of a ring all-reduce on 1024 ranks, through dtsim (sim/comm.c and
# sim/collectives/ring.c, real floats copied and added) and through bare
# SimGrid mailboxes with the same traffic, side by side.  BENCH is the
# bench_collective program of a Release build, e.g.
#     bash tests/bench_collective.sh build/tests/bench_collective
# The platform is a 1024-host cluster generated here, on the ideal network
# of tests/platforms/ideal-64.xml.  Each mode is its own process: SimGrid
# initialises once per process.  One all-reduce is 1024 x 2 x 1023 messages.
set -eu
bench=${1:?usage: bench_collective.sh BENCH [COUNT] [ALLREDUCES]}
count=${2:-262144}   # floats per rank: 1 MB, blocks of 1 KB
allreduces=${3:-1}
. "$(dirname "$0")/checks.sh" # $tmp
cat >"$tmp/cluster-1024.xml" <<'EOF'
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <cluster id="bench" prefix="node-" suffix="" radical="0-1023" speed="1Gf"
           bw="1.25GBps" lat="5us" sharing_policy="SPLITDUPLEX"/>
</platform>
EOF
ideal=(--cfg=network/model:CM02 --cfg=network/crosstraffic:0 --cfg=network/TCP-gamma:1e18)

# field LINE KEY: the value of KEY=value in LINE
field() {
    tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"
}

echo "ring all-reduce, 1024 ranks, $count floats per rank, $allreduces all-reduce(s)"
dtsim=$("$bench" dtsim "$tmp/cluster-1024.xml" "$count" "$allreduces" "${ideal[@]}" 2>/dev/null)
bare=$("$bench" bare "$tmp/cluster-1024.xml" "$count" "$allreduces" "${ideal[@]}" 2>/dev/null)
printf '%-6s %12s %12s %14s %16s\n' mode messages wall_s messages/s simulated_s
for line in "$dtsim" "$bare"; do
    printf '%-6s %12s %12s %14s %16s\n' "${line%% *}" "$(field "$line" messages)" \
        "$(field "$line" wall_seconds)" "$(field "$line" messages_per_second)" \
        "$(field "$line" simulated_seconds)"
done
awk -v a="$(field "$dtsim" messages_per_second)" -v b="$(field "$bare" messages_per_second)" \
    'BEGIN { printf "dtsim / bare messages per second: %.3f\n", a / b }'
