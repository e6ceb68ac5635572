#!/usr/bin/env bash
# ps_modes.sh DTSIM MODEL_DIFF SOURCE_DIR - asynchrony, staleness,
# backup workers, speed-balanced batches and slowdowns:
#  1. ssp with staleness 0 gives the sync parameter server's parameters and
#     metrics, byte for byte (1 and 2 servers);
#  2. no gradient applied by ssp is staler than the bound, over platforms,
#     seeds and bounds, and the bound is reached somewhere;
#  3. async on a homogeneous platform: mean staleness close to N - 1;
#  4. backup workers: every step's update starts when the N-th gradient
#     computed on the current parameters arrives (from the trace);
#  5. balance = speed: the same parameters as an equal split (and as
#     serial), and less waiting for slower workers; where each worker's time
#     goes (compute, transfers, waiting, idle) matches its closed form;
#  6. a SimGrid speed profile and the same [faults] slowdown both give the
#     closed-form time t0 + (T - t0) / factor.
set -u
dtsim=$1
model_diff=$2
src=$3
. "$src/tests/checks.sh"
tiny=$src/tests/scenarios/tiny.ini
hetero=$src/platforms/hetero.xml
ps=(--quiet --no-plot --set strategy.kind=parameter-server)

run() { # run NAME ARGS...
    local name=$1
    shift
    if ! "$dtsim" run "$tiny" "$@" --out "$tmp/$name" --save-model "$tmp/$name.bin" \
        >"$tmp/$name.log" 2>&1; then
        bad "run $name: $(tail -1 "$tmp/$name.log")"
        return 1
    fi
}
summary() { # summary NAME FILTER: jq's FILTER on NAME's summary.json
    json "$tmp/$1/summary.json" "$2"
}

# 1. ssp, s = 0 is sync
for servers in 1 2; do
    for n in 2 4; do
        a=(--platform "$hetero" --set cluster.workers=$n --set strategy.servers=$servers)
        run sync-$servers-$n "${ps[@]}" "${a[@]}" || continue
        run ssp0-$servers-$n "${ps[@]}" "${a[@]}" --set strategy.mode=ssp \
            --set strategy.staleness=0 || continue
        if cmp -s "$tmp/sync-$servers-$n.bin" "$tmp/ssp0-$servers-$n.bin" &&
            cmp -s "$tmp/sync-$servers-$n/metrics.csv" "$tmp/ssp0-$servers-$n/metrics.csv"; then
            ok "ssp staleness 0 = sync, $n workers, $servers servers: identical parameters and metrics"
        else
            bad "ssp staleness 0 differs from sync, $n workers, $servers servers"
        fi
    done
done

# 2. the staleness bound, on three platforms (one with a straggler window)
reached=" "
for plat in hetero cluster-10gbe hetero-slow; do
    p=(--platform "$src/platforms/${plat%-slow}.xml")
    [ "$plat" = hetero-slow ] && p+=(--set "faults.slowdown=gpu3-v100 0 1e9 0.001")
    for s in 1 2 3; do
        for seed in 1 2 3; do
            name=ssp-$plat-$s-$seed
            run "$name" "${ps[@]}" "${p[@]}" --set cluster.workers=5 --set strategy.mode=ssp \
                --set strategy.staleness=$s --set train.seed=$seed || continue
            max=$(summary "$name" .staleness.max)
            n=$(summary "$name" .staleness.gradients)
            if [ "$n" = 200 ] && [ "$max" -le "$s" ]; then
                ok "ssp bound $s on $plat, seed $seed: largest staleness $max of $n gradients"
            else
                bad "ssp bound $s on $plat, seed $seed: largest staleness $max of $n gradients"
            fi
            [ "$max" = "$s" ] && reached="$reached$s "
        done
    done
done
for s in 1 2 3; do
    if [[ "$reached" == *" $s "* ]]; then
        ok "the bound $s is reached, not just respected, in some run"
    else
        bad "no ssp run reached the bound $s: the check cannot tell that bound from a tighter one"
    fi
done

# 3. async on the homogeneous 10 GbE cluster: round-robin arrival makes the
# other N - 1 workers' gradients land between a pull and its push
for n in 4 7; do
    name=async-$n
    run "$name" "${ps[@]}" --platform "$src/platforms/cluster-10gbe.xml" \
        --set cluster.workers=$n --set strategy.mode=async || continue
    mean=$(summary "$name" .staleness.mean)
    if awk -v m="$mean" -v n="$n" 'BEGIN { d = m - (n - 1); exit !(d < 0.1 * (n - 1) && -d < 0.1 * (n - 1)) }'; then
        ok "async, $n workers on cluster-10gbe: mean staleness $mean (round robin: $((n - 1)))"
    else
        bad "async, $n workers on cluster-10gbe: mean staleness $mean, expected about $((n - 1))"
    fi
done

# 4. backup workers on hosts of eight speeds and an instant network: the
# server's update k starts when the N-th of the gradients computed on
# version k - 1 (forward started after update k - 1 ended) has finished
for nb in "3 2" "2 1" "4 3"; do
    set -- $nb
    name=backup-$1-$2
    run "$name" "${ps[@]}" --platform "$src/tests/platforms/instant-hetero.xml" \
        --set cluster.workers=$1 --set strategy.backup_workers=$2 || continue
    out=$(awk -v W=$(($1 + $2)) -v N=$1 '
        /"ph":"X"/ {
            match($0, /"name":"[a-z]+"/); name = substr($0, RSTART + 8, RLENGTH - 9)
            match($0, /"tid":[0-9]+/); tid = substr($0, RSTART + 6, RLENGTH - 6) + 0
            match($0, /"ts":[-0-9.e+]+/); ts = substr($0, RSTART + 5, RLENGTH - 5) + 0
            match($0, /"dur":[-0-9.e+]+/); dur = substr($0, RSTART + 6, RLENGTH - 6) + 0
            if (tid < W && name == "forward") fs[tid, nf[tid]++] = ts
            if (tid < W && name == "backward") be[tid, nb[tid]++] = ts + dur
            if (tid == W && name == "update") { us[++K] = ts; ue[K] = ts + dur }
        }
        END {
            worst = 0; prev = 0; bad = 0
            for (k = 1; k <= K; k++) {
                m = 0
                for (w = 0; w < W; w++)
                    for (i = 0; i < nb[w]; i++)
                        if (fs[w, i] >= prev - 1e-6 && fs[w, i] <= us[k] + 1e-6) g[++m] = be[w, i]
                for (i = 1; i <= m; i++)
                    for (j = i + 1; j <= m; j++)
                        if (g[j] < g[i]) { t = g[i]; g[i] = g[j]; g[j] = t }
                if (m < N) { bad++; continue }
                d = us[k] - g[N]; if (d < 0) d = -d
                if (d > worst) worst = d
                if (d > 1e-3) bad++
                prev = ue[k]
            }
            printf "%d %d %.3g", K, bad, worst
        }' "$tmp/$name/trace.json")
    set -- $out
    if [ "$1" -gt 0 ] && [ "$2" = 0 ]; then
        ok "backup workers ($name): all $1 updates start at the N-th arrival (worst gap $3 us)"
    else
        bad "backup workers ($name): $2 of $1 updates do not start at the N-th arrival (worst $3 us)"
    fi
done

# 5. balance = speed on the heterogeneous platform
b=(--quiet --no-plot --platform "$hetero" --set strategy.kind=data-parallel
    --set cluster.workers=8 --set train.batch=32 --set train.steps=20 --set train.eval_every=20)
run serial-256 --quiet --no-plot --set train.batch=256 --set train.steps=20 \
    --set train.eval_every=20 &&
    run equal "${b[@]}" && run speed "${b[@]}" --set strategy.balance=speed && {
    for other in equal speed; do
        if d=$("$model_diff" "$tmp/serial-256.bin" "$tmp/$other.bin" 1e-5); then
            ok "balance = $other gives serial's parameters: $d"
        else
            bad "balance = $other differs from serial: $d"
        fi
    done
    we=$(summary equal '[.hosts[].wait_seconds] | add')
    ws=$(summary speed '[.hosts[].wait_seconds] | add')
    if awk -v a="$ws" -v b="$we" 'BEGIN { exit !(a < b) }'; then
        ok "balance = speed waits $ws s for slower workers (all ranks), equal split $we s"
    else
        bad "balance = speed waits $ws s, not less than equal split's $we s"
    fi
}

# 5b. where the time goes: data-parallel, equal split, on eight hosts of
# eight speeds where transfers take no time: worker r
# computes g_r (forward, loss, backward) and u_r (update) per step; node-1
# (rank 0, the slowest) enters each all-reduce last, so over S steps
#   compute_r = S (g_r + u_r)     comm_r = 0     idle_r = u_0 - u_r
#   wait_r    = S (g_0 - g_r) + (S - 1)(u_0 - u_r)
# adding up to the simulated time.
run split --quiet --no-plot --platform "$src/tests/platforms/instant-hetero.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=8 --set train.batch=32 \
    --set train.steps=20 --set train.eval_every=20 && {
    trace=$tmp/split/trace.json
    first() { # first RANK NAME: seconds of the rank's first span called NAME
        json "$trace" "[.traceEvents[] | select(.tid == $1 and .name == \"$2\")][0].dur / 1e6"
    }
    g0=$(awk -v a="$(first 0 forward)" -v b="$(first 0 loss)" -v c="$(first 0 backward)" \
        'BEGIN { printf "%.12g", a + b + c }')
    u0=$(first 0 update)
    for r in 0 3 7; do
        read -r wc ww wi < <(awk -v S=20 -v g0="$g0" -v u0="$u0" -v f="$(first $r forward)" \
            -v l="$(first $r loss)" -v b="$(first $r backward)" -v u="$(first $r update)" \
            'BEGIN { g = f + l + b
                printf "%.12g %.12g %.12g\n", S * (g + u), S * (g0 - g) + (S - 1) * (u0 - u), u0 - u }')
        time_split "data-parallel, rank $r of 8 on the heterogeneous platform" \
            "$tmp/split/summary.json" $r "$wc" "$ww" "$wi"
    done
}

# 6. a speed profile on the platform and a [faults] window agree with the
# closed form: from 0.05 s on, half speed
sed '/<trace id/,/<\/trace>/d; /trace_connect/d' "$src/tests/platforms/profile-1.xml" \
    >"$tmp/profile-0.xml"
one=(--quiet --no-plot)
run plain "${one[@]}" --platform "$tmp/profile-0.xml" &&
    run profile "${one[@]}" --platform "$src/tests/platforms/profile-1.xml" &&
    run fault "${one[@]}" --platform "$tmp/profile-0.xml" \
        --set "faults.slowdown=slow-0 0.05 1000 0.5" && {
    t0=$(summary plain .simulated_seconds)
    for name in profile fault; do
        t=$(summary $name .simulated_seconds)
        if awk -v t="$t" -v t0="$t0" 'BEGIN { e = 0.05 + (t0 - 0.05) / 0.5; d = (t - e) / e; exit !(t0 > 0.05 && d < 1e-9 && -d < 1e-9) }'; then
            ok "$name: $t simulated s = 0.05 + ($t0 - 0.05) / 0.5"
        else
            bad "$name: $t simulated s, expected 0.05 + ($t0 - 0.05) / 0.5"
        fi
    done
}

checks_done
