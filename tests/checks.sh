# checks.sh - what the shell acceptance checks and benchmarks share;
# sourced, not run.
#
# Sourcing it gives a scratch directory $tmp, removed when the script
# exits.  Each check prints one line, "ok: ..." or "FAILED: ...", and counts
# in pass and fail; `checks_done` prints the closing "N passed, N failed"
# line that ctest's log shows, and returns non-zero when anything failed.
# `json` reads a result file (summary.json, `dtsim collective --json`)
# with jq, so no script parses JSON by hand.

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect CODE PATTERN -- COMMAND...: exit code CODE and PATTERN (an
# extended regular expression, any case) in the output
expect() {
    local code=$1 pattern=$2
    shift 3
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq "$code" ] && grep -qiE -- "$pattern" <<<"$out"; then
        pass=$((pass + 1))
        echo "ok: exit $rc: $*"
    else
        fail=$((fail + 1))
        echo "FAILED: exit $rc (wanted $code, output matching '$pattern'): $*"
        echo "$out" | head -5 | sed 's/^/    /'
    fi
}

# ok MESSAGE / bad MESSAGE: count and print a check decided by the caller
ok() {
    pass=$((pass + 1))
    echo "ok: $*"
}
bad() {
    fail=$((fail + 1))
    echo "FAILED: $*"
}

# same A B LABEL: files A and B are byte-identical
same() {
    if cmp -s "$1" "$2"; then
        ok "identical $(basename "$1") ($3)"
    else
        bad "$(basename "$1") differs ($3)"
    fi
}

# json FILE FILTER: what jq's FILTER gives on FILE (- for standard input),
# raw, one value a line; e.g. json run/summary.json '.hosts[].bytes_sent'
json() {
    jq -r "$2" "$1"
}

checks_done() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

# time_split LABEL SUMMARY RANK COMPUTE WAIT IDLE: host RANK's compute,
# wait and idle seconds in SUMMARY within 1% of the closed forms given
# (an expected 0 within 1% of the simulated time), no more than 1% of it in
# communication, and the four adding up to the simulated time.
time_split() {
    local label=$1 sum=$2 total c m w i verdict
    total=$(json "$sum" .simulated_seconds)
    read -r c m w i < <(json "$sum" ".hosts[$3] | \"\(.compute_seconds) \(.comm_seconds) \(.wait_seconds) \(.idle_seconds)\"")
    verdict=$(awk -v c="$c" -v co="$m" -v w="$w" -v i="$i" -v T="$total" -v wc="$4" -v ww="$5" \
        -v wi="$6" 'function err(a, b) { d = a - b; d = d < 0 ? -d : d; return b > 0 ? d / b : d / T }
        BEGIN {
            e = err(c, wc); if (err(w, ww) > e) e = err(w, ww)
            if (err(i, wi) > e) e = err(i, wi); if (co / T > e) e = co / T
            sum = (c + co + w + i - T) / T; if (sum < 0) sum = -sum
            printf "%s compute %.6g (%.6g), wait %.6g (%.6g), idle %.6g (%.6g), comm %.3g; worst error %.2f%%, sum off by %.1e\n",
                (e < 0.01 && sum < 1e-9) ? "ok" : "bad", c, wc, w, ww, i, wi, co, 100 * e, sum }')
    if [ "${verdict%% *}" = ok ]; then
        ok "$label: ${verdict#* }"
    else
        bad "$label: ${verdict#* }"
    fi
}

# cluster_xml FILE HOSTS: a SimGrid cluster of HOSTS A100-class hosts
# (node-0, node-1, ...), each on its own 100 Gb/s full-duplex link
cluster_xml() {
    cat >"$1" <<XML
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <cluster id="big" prefix="node-" suffix="" radical="0-$(($2 - 1))" speed="14Tf"
           bw="12.5GBps" lat="2us" sharing_policy="SPLITDUPLEX"/>
</platform>
XML
}
