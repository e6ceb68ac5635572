#!/usr/bin/env bash
# collective_timing.sh DTSIM SOURCE_DIR - every collective algorithm, timed
# by `dtsim collective` on the ideal alpha-beta network of
# tests/platforms/ideal-64.xml, must take the time of its closed form
# (DESIGN.md, sim/collective.h) within 1%, and report the bus bandwidth
# nccl-tests would; bad input must end with exit 2 and a message.  Each
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
        if (algo == "ring" && op == "allreduce")      t = 2 * (p - 1) * (a + block * b)
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

# timing OP ALGO P BYTES: simulated time and busbw against the closed form
timing() {
    local op=$1 algo=$2 p=$3 n=$4 out rc
    out=$("$dtsim" collective --platform "$platform" --op "$op" --algo "$algo" --ranks "$p" \
        --bytes "$n" --json "${ideal[@]}" 2>"$tmp/err")
    rc=$?
    local got busbw want factor verdict
    got=$(json - .simulated_seconds <<<"$out")
    busbw=$(json - .busbw_gbps <<<"$out")
    want=$(closed_form "$op" "$algo" "$p" "$n")
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
    local what="$op $algo p=$p bytes=$n: ${got:-no time} s, closed form $want s"
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
timing allgather ring 5 4004
timing reduce-scatter ring 5 4004
timing allreduce tree 5 4004
timing broadcast tree 5 4004

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
expect 2 "no algorithm 'butterfly' for allreduce; choose ring, rhd, tree, ps" -- \
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
