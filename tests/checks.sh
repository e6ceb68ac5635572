# checks.sh - what the shell acceptance checks share; sourced, not run.
#
# Each check prints one line, "ok: ..." or "FAILED: ...", and counts in
# pass and fail; `checks_done` prints the closing "N passed, N failed" line
# that ctest's log shows, and returns non-zero when anything failed.

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

checks_done() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
