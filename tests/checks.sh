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
