#!/usr/bin/env bash
# collective_timing.sh DTSIM SOURCE_DIR - every collective algorithm, timed
# by `dtsim collective` on the ideal alpha-beta network of
# tests/platforms/ideal-64.xml (the hierarchical all-reduce on
# tests/platforms/ideal-nodes-4x4.xml, ideal-nodes-4x8.xml and
# platforms/dgx-2x8.xml, which have nodes), must take the time of its closed
# form (DESIGN.md, sim/collective.h; ring-flow's is the ring's) within 1%,
# and report the bus bandwidth
# nccl-tests would; on dgx-2x8.xml under SimGrid's default network model the
# hierarchical all-reduce of 1 GB must beat the flat ring; bad input must
# end with exit 2 and a message.  Each
# check prints one line; the script fails if any failed.  Plain awk does the
# arithmetic, so the check needs nothing beyond bash and coreutils.
set -u
dtsim=$1
src=$2
platform=$src/tests/platforms/ideal-64.xml
ideal=(--cfg=network/model:CM02 --cfg=network/crosstraffic:0 --cfg=network/TCP-gamma:1e18)
alpha=10e-6      # route latency: two 5 us private links
beta=8e-10       # seconds per byte: 1 / 1.25 GB/s
tolerance=0.01
. "$(dirname "$0")/checks.sh"
worst=""         # "algo worst-error" lines, summarised at the end


# closed_form OP ALGO P BYTES: seconds on the ideal network; blocks of an
# uneven split cost as much as the largest one
closed_form() {
    awk -v op="$1" -v algo="$2" -v p="$3" -v n="$4" -v a="$alpha" -v b="$beta" 'BEGIN {
        lg = 0
        while (2 ^ lg < p) lg++                     # ceil(lg p)
        count = n / 4
        block = int((count + p - 1) / p) * 4        # bytes of the largest block
        if (algo ~ /^ring/ && op == "allreduce")      t = 2 * (p - 1) * (a + block * b)
        else if (algo == "ring")                      t = (p - 1) * (a + block * b)
        else if (algo == "rhd")                       t = 2 * lg * a + 2 * (p - 1) / p * n * b
        else if (algo == "tree" && op == "allreduce") t = 2 * lg * (a + n * b)
        else if (algo == "ps")                        t = 2 * (a + (p - 1) * n * b)
        else                                          t = lg * (a + n * b)
        printf "%.12g\n", t
    }'
}

# bus_factor OP P: nccl-tests busbw / algbw
bus_factor() {
    awk -v op="$1" -v p="$2" 'BEGIN {
        if (op == "allreduce") f = 2 * (p - 1) / p
        else if (op == "broadcast") f = 1
        else f = (p - 1) / p
        printf "%.12g\n", f
    }'
}

# hier_form ALGO P G BYTES AL BL AR BR: the hierarchical all-reduce of
# sim/collective.h on P/G nodes of G, alpha and beta inside a node (AL, BL)
# and across nodes (AR, BR: what each of the G side-by-side all-reduces
# gets); sizes here split evenly
hier_form() {
    awk -v algo="$1" -v p="$2" -v g="$3" -v n="$4" -v al="$5" -v bl="$6" -v ar="$7" \
        -v br="$8" 'BEGIN {
        N = p / g
        lg = 0
        while (2 ^ lg < N) lg++
        t = 2 * (g - 1) * (al + n / g * bl)
        if (algo == "hierarchical") t += 2 * (N - 1) * (ar + n / (g * N) * br)
        else                        t += 2 * lg * ar + 2 * (N - 1) / N * n / g * br
        printf "%.12g\n", t
    }'
}

# timing OP ALGO P BYTES: simulated time and busbw against the closed form
timing() {
    timing_on "$platform" "$(closed_form "$1" "$2" "$3" "$4")" "$@"
}

# hier_timing PLATFORM ALGO G P BYTES AL BL AR BR: the hierarchical
# all-reduce against hier_form
hier_timing() {
    local plat=$1 algo=$2 g=$3 p=$4 n=$5
    shift 5
    timing_on "$plat" "$(hier_form "$algo" "$p" "$g" "$n" "$@")" allreduce "$algo" "$p" "$n"
}

# timing_on PLATFORM WANT OP ALGO P BYTES: simulated time and busbw on
# PLATFORM against WANT seconds
timing_on() {
    local plat=$1 want=$2 op=$3 algo=$4 p=$5 n=$6 out rc
    out=$("$dtsim" collective --platform "$plat" --op "$op" --algo "$algo" --ranks "$p" \
        --bytes "$n" --json "${ideal[@]}" 2>"$tmp/err")
    rc=$?
    local got busbw factor verdict
    got=$(json - .simulated_seconds <<<"$out")
    busbw=$(json - .busbw_gbps <<<"$out")
    factor=$(bus_factor "$op" "$p")
    verdict=$(awk -v got="${got:-nan}" -v want="$want" -v bus="${busbw:-nan}" -v n="$n" \
        -v f="$factor" -v tol="$tolerance" 'BEGIN {
        if (got !~ /^[0-9.eE+-]+$/ || bus !~ /^[0-9.eE+-]+$/) { print "bad 1"; exit }
        err = (got - want) / want; if (err < 0) err = -err
        wantbus = n / want / 1e9 * f
        berr = (bus - wantbus) / wantbus; if (berr < 0) berr = -berr
        worst = err; if (berr > worst) worst = berr
        verdict = (err <= tol && berr <= tol) ? "ok" : "bad"
        printf "%s %.3g\n", verdict, worst
    }')
    local on=""
    [ "$plat" = "$platform" ] || on=" on ${plat##*/}"
    local what="$op $algo p=$p bytes=$n$on: ${got:-no time} s, closed form $want s"
    if [ "$rc" -eq 0 ] && [ "${verdict%% *}" = ok ]; then
        pass=$((pass + 1))
        echo "ok: $what (relative error ${verdict#* })"
    else
        fail=$((fail + 1))
        echo "FAILED: exit $rc: $what (relative error ${verdict#* }, busbw ${busbw:-none})"
        head -3 "$tmp/err" | sed 's/^/    /'
    fi
    worst+="$op-$algo ${verdict#* }"$'\n'
}


sizes=(1024 65536 1048576 16777216 104857600)
for p in 2 4 8 16 64; do
    for n in "${sizes[@]}"; do
        timing allreduce ring "$p" "$n"
        timing allreduce ring-flow "$p" "$n"
        timing allreduce rhd "$p" "$n"
        timing allreduce tree "$p" "$n"
        timing allreduce ps "$p" "$n"
        timing allgather ring "$p" "$n"
        timing reduce-scatter ring "$p" "$n"
        timing broadcast tree "$p" "$n"
    done
done
# Uneven blocks (1001 floats over 8 and 5 ranks) and trees of odd size.
timing allreduce ring 8 4004
timing allreduce ring-flow 8 4004
timing allgather ring 5 4004
timing reduce-scatter ring 5 4004
timing allreduce tree 5 4004
timing broadcast tree 5 4004

# The hierarchical all-reduce: N = 2, 3, 4 nodes of 4 (uplinks bind:
# beta_r = 4 / 20 GB/s), of 8 (each host's own link binds: beta_r = 1 /
# 10 GB/s), and dgx-2x8.xml's 2 nodes of 8 (beta_r = 8 / 200 GB/s on the
# shared InfiniBand link); rhd across a power-of-two number of nodes.
nodes4=$src/tests/platforms/ideal-nodes-4x4.xml
nodes8=$src/tests/platforms/ideal-nodes-4x8.xml
dgx=$src/platforms/dgx-2x8.xml
for n in 1024 1048576 67108864; do
    for p in 8 12 16; do
        hier_timing "$nodes4" hierarchical 4 "$p" "$n" 10e-6 1e-10 30e-6 2e-10
    done
    for p in 16 24 32; do
        hier_timing "$nodes8" hierarchical 8 "$p" "$n" 10e-6 1e-10 30e-6 1e-10
    done
    for p in 8 16; do
        hier_timing "$nodes4" hierarchical-rhd 4 "$p" "$n" 10e-6 1e-10 30e-6 2e-10
    done
    for p in 16 32; do
        hier_timing "$nodes8" hierarchical-rhd 8 "$p" "$n" 10e-6 1e-10 30e-6 1e-10
    done
    hier_timing "$dgx" hierarchical 8 16 "$n" 2e-6 "$(awk 'BEGIN { print 1 / 300e9 }')" 5e-6 4e-11
done

# On dgx-2x8.xml under the default LV08 model, 1 GB on 16 GPUs: the flat
# ring's 30 steps each pay a (13x inflated) InfiniBand hop; the
# hierarchical one pays 2.
lv08() { # lv08 ALGO: simulated seconds of 1 GB on dgx-2x8.xml's 16 GPUs
    "$dtsim" collective --platform "$dgx" --op allreduce --algo "$1" --ranks 16 --bytes 1G \
        --json 2>>"$tmp/err" | json - .simulated_seconds
}
ring_s=$(lv08 ring)
hier_s=$(lv08 hierarchical)
if awk -v r="${ring_s:-x}" -v h="${hier_s:-x}" 'BEGIN { exit !(h + 0 > 0 && h + 0 < r + 0) }'
then
    ok "dgx-2x8.xml LV08 1 GB on 16 GPUs: hierarchical $hier_s s, flat ring $ring_s s"
else
    bad "dgx-2x8.xml LV08 1 GB on 16 GPUs: hierarchical ${hier_s:-none} s not below ring ${ring_s:-none} s"
fi

c=(collective --platform "$platform")
expect 0 "allreduce ring: 64 ranks, 1048576 bytes.*network CM02" -- \
    "$dtsim" "${c[@]}" --op allreduce --algo ring --bytes 1M "${ideal[@]}"
expect 0 '"root":3' -- "$dtsim" "${c[@]}" --op broadcast --algo tree --ranks 8 --root 3 \
    --bytes 64K --json
expect 0 "network LV08" -- "$dtsim" "${c[@]}" --op allgather --algo ring --ranks 4 --bytes 4K
expect 0 "dtsim collective" -- "$dtsim" --help
expect 2 "rhd needs a power-of-two number of ranks \(got 6\)" -- \
    "$dtsim" "${c[@]}" --op allreduce --algo rhd --ranks 6 --bytes 1M
expect 2 "--ranks 65 but platform .* has 64 hosts" -- \
    "$dtsim" "${c[@]}" --op allreduce --algo ring --ranks 65 --bytes 1M
expect 2 "--ranks '0'" -- "$dtsim" "${c[@]}" --op allreduce --algo ring --ranks 0 --bytes 1M
expect 2 "unknown --op 'alltoall'" -- "$dtsim" "${c[@]}" --op alltoall --algo ring --bytes 1M
h=(collective --platform "$nodes4" --op allreduce --bytes 1M)
expect 2 "hierarchical on the first 4 hosts .* needs several nodes of several GPUs each: the 4 ranks sit on 1 node" -- \
    "$dtsim" "${h[@]}" --algo hierarchical --ranks 4
expect 2 "needs the same number of ranks on every node: the first node has 4 of the 6 ranks" -- \
    "$dtsim" "${h[@]}" --algo hierarchical --ranks 6
expect 2 "hierarchical-rhd .* needs a power-of-two number of nodes .*got 3 nodes of 4" -- \
    "$dtsim" "${h[@]}" --algo hierarchical-rhd --ranks 12
expect 2 "at least 4 ranks \(got 2\)" -- "$dtsim" "${h[@]}" --algo hierarchical --ranks 2
expect 2 "the 64 ranks sit on 1 node" -- "$dtsim" "${c[@]}" --op allreduce --algo hierarchical \
    --bytes 1M
expect 2 "no algorithm 'butterfly' for allreduce; choose ring, ring-flow, rhd, tree, ps, hierarchical, hierarchical-rhd" -- \
    "$dtsim" "${c[@]}" --op allreduce --algo butterfly --bytes 1M
expect 2 "no algorithm 'rhd' for allgather; choose ring" -- \
    "$dtsim" "${c[@]}" --op allgather --algo rhd --bytes 1M
for bad in 0 -4 10 abc 4X 1.5M ""; do
    expect 2 "--bytes" -- "$dtsim" "${c[@]}" --op allreduce --algo ring "--bytes=$bad"
done
expect 2 "needs --bytes" -- "$dtsim" "${c[@]}" --op allreduce --algo ring
expect 2 "needs --platform" -- "$dtsim" collective --op allreduce --algo ring --bytes 1M
expect 2 "--root 8: there are only 8 ranks" -- \
    "$dtsim" "${c[@]}" --op broadcast --algo tree --ranks 8 --root 8 --bytes 1M
expect 2 "--root 2: only a broadcast has a root; drop --root for --op allreduce" -- \
    "$dtsim" "${c[@]}" --op allreduce --algo ring --ranks 8 --root 2 --bytes 1M
expect 2 "unknown option '--nope'" -- "$dtsim" "${c[@]}" --op allreduce --algo ring --bytes 1M \
    --nope
expect 2 "cannot open platform '$tmp/missing.xml'" -- \
    "$dtsim" collective --platform "$tmp/missing.xml" --op allreduce --algo ring --bytes 1M
# SimGrid's parser wants this prolog; what follows is wrong on purpose.
prolog=("<?xml version='1.0'?>" '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">'
    '<platform version="4.1">' '<zone id="z" routing="Full">')
printf '%s\n' "${prolog[@]}" '<host id="a" speed="1Gf">' '</zone></platform>' >"$tmp/broken.xml"
expect 2 "platform '$tmp/broken.xml'.*not valid.*host" -- \
    "$dtsim" collective --platform "$tmp/broken.xml" --op allreduce --algo ring --bytes 1M
printf '%s\n' "${prolog[@]}" '<host id="a" speed="1Gf"/>' '<host id="b" speed="1Gf"/>' \
    '</zone></platform>' >"$tmp/no-route.xml"
expect 2 "no-route.xml.*cannot run 2 ranks.*no connecting path" -- \
    "$dtsim" collective --platform "$tmp/no-route.xml" --op allreduce --algo ring --bytes 1M
expect 2 "not valid" -- "$dtsim" "${c[@]}" --op allreduce --algo ring --bytes 1M \
    --cfg=network/model:NoSuchModel

echo "worst relative error per algorithm:"
awk 'NF == 2 { if (!($1 in w) || $2 + 0 > w[$1]) w[$1] = $2 + 0 }
     END { for (k in w) printf "  %-22s %.3g\n", k, w[k] }' <<<"$worst" | sort
checks_done
