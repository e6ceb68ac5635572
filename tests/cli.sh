#!/usr/bin/env bash
# cli.sh DTSIM SOURCE_DIR - the command line's promises: exit 0 on success,
# 2 with a message on bad input, never a crash, never overwriting what the
# user wrote.  Each check prints one line; the script fails if any failed.
set -u
dtsim=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
. "$(dirname "$0")/checks.sh"


tiny=$src/tests/scenarios/tiny.ini
q=(--quiet)

expect 0 "usage" -- "$dtsim" --help
expect 0 "^dtsim [0-9]" -- "$dtsim" --version
expect 2 "usage" -- "$dtsim"
expect 2 "unknown command" -- "$dtsim" fly
expect 0 "Usage:" -- "$dtsim" run --help
expect 0 "Usage:" -- "$dtsim" sweep "$tiny" --vary train.batch=8,16 -h
expect 0 "Usage:" -- "$dtsim" check "$tiny" --help
expect 2 "unknown option '--nope'" -- "$dtsim" run "$tiny" --nope
expect 2 "needs a scenario" -- "$dtsim" run
expect 2 "cannot open scenario '$tmp/none.ini'" -- "$dtsim" run "$tmp/none.ini"

printf '[train]\nbatch = 8\nbogus = 1\n' >"$tmp/bad-key.ini"
expect 2 "bad-key.ini:3: unknown key 'bogus'" -- "$dtsim" run "$tmp/bad-key.ini"
printf '[train]\nbatch = eight\n' >"$tmp/bad-value.ini"
expect 2 "bad-value.ini:2: \[train\] batch = 'eight'" -- "$dtsim" check "$tmp/bad-value.ini"
printf '[train\nbatch = 8\n' >"$tmp/bad-syntax.ini"
expect 2 "bad-syntax.ini:1" -- "$dtsim" run "$tmp/bad-syntax.ini"
expect 2 "--set train.lr=fast" -- "$dtsim" run "$tiny" --set train.lr=fast

printf "<?xml version='1.0'?>\n<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n<platform version=\"4.1\">\n<zone id=\"z\" routing=\"Full\">\n<host id=\"a\" speed=\"1Gf\">\n</zone></platform>\n" >"$tmp/broken.xml"
expect 2 "platform '$tmp/broken.xml'.*not valid: .*broken.xml:6" -- "$dtsim" run "$tiny" --platform "$tmp/broken.xml" "${q[@]}"
printf 'not xml at all\n' >"$tmp/garbage.xml"
expect 2 "garbage.xml" -- "$dtsim" run "$tiny" --platform "$tmp/garbage.xml" "${q[@]}"
expect 2 "cannot open platform '$tmp/missing.xml'" -- "$dtsim" run "$tiny" --platform "$tmp/missing.xml"
expect 2 "not valid" -- "$dtsim" run "$tiny" --cfg=network/model:NoSuchModel "${q[@]}"
expect 2 "NAME:VALUE" -- "$dtsim" run "$tiny" --cfg=network/model
# solver precisions that make SimGrid spin forever (0, NaN) or crash (< 0)
expect 2 "surf/precision:0: SimGrid's solver needs a small positive precision" -- \
    timeout 60 "$dtsim" run "$tiny" --cfg=surf/precision:0 "${q[@]}"
expect 2 "maxmin/precision:-1: .*positive precision" -- \
    timeout 60 "$dtsim" run "$tiny" --cfg=maxmin/precision:-1 "${q[@]}"
expect 2 "surf/precision:nan: .*positive precision" -- \
    timeout 60 "$dtsim" collective --platform "$src/platforms/cluster-10gbe.xml" --op allreduce \
    --algo ring --bytes 1M --cfg=surf/precision:nan
# SimGrid's parallel actors (dtsim's ranks share state in SimGrid's order)
expect 2 "contexts/nthreads:2: .*--threads N" -- \
    timeout 60 "$dtsim" run "$tiny" --cfg=contexts/nthreads:2 "${q[@]}"
expect 0 "" -- timeout 60 "$dtsim" run "$tiny" --cfg=contexts/nthreads:1 "${q[@]}" --out "$tmp/nthreads-1"

expect 2 "dataset-fashion-mnist" -- "$dtsim" run "$src/scenarios/serial-mlp.ini" --set "data.path=$tmp/no-data"
expect 2 "global batch of 4096" -- "$dtsim" run "$tiny" --set train.batch=4096

# Device memory and the parallel strategies' settings.
expect 2 "out of memory on rank 0 \(host gpu0\): it needs" -- "$dtsim" run "$src/scenarios/serial-mlp.ini" --set model.hidden=65536,65536
dp=(--set strategy.kind=data-parallel --platform "$src/platforms/cluster-10gbe.xml")
expect 2 "allreduce = bogus is unknown; choose one of: ring" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=4 --set strategy.allreduce=bogus
expect 2 "allreduce = rhd across 3 replicas" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=3 --set strategy.allreduce=rhd
expect 2 "needs 9 hosts .* has 8" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=9
# the hierarchical all-reduce wants several nodes of several GPUs, and a
# strategy that tells it the nodes
expect 2 "allreduce = hierarchical needs several nodes of several GPUs each: the 8 ranks sit on 1 node" -- \
    "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=8 --set strategy.allreduce=hierarchical --out "$tmp/hier" "${q[@]}"
expect 2 "allreduce = hierarchical needs the same number of ranks on every node" -- \
    "$dtsim" run "$tiny" --set strategy.kind=data-parallel --platform "$src/platforms/dgx-2x8.xml" \
    --set cluster.workers=12 --set strategy.allreduce=hierarchical --out "$tmp/hier" --force "${q[@]}"
expect 2 "allreduce = hierarchical follows the nodes" -- "$dtsim" check "$tiny" "${dp[@]}" \
    --set strategy.kind=local-sgd --set cluster.workers=8 --set strategy.allreduce=hierarchical
expect 2 "needs 9 hosts" -- "$dtsim" run "$tiny" --set strategy.kind=parameter-server --set cluster.workers=8 --platform "$src/platforms/cluster-10gbe.xml"
# outputs stay in the output directory, SimGrid's own trace too; --quiet is quiet
mkdir -p "$tmp/cwd"
(cd "$tmp/cwd" && "$dtsim" run "$tiny" --platform "$src/tests/platforms/tracing.xml" \
    --set strategy.kind=data-parallel --set cluster.workers=2 --quiet --no-plot --out "$tmp/traced")
if [ -z "$(ls -A "$tmp/cwd")" ] && [ -s "$tmp/traced/simgrid.trace" ]; then
    ok "a platform's SimGrid trace goes to the output directory, nothing to the current one"
else
    bad "SimGrid trace: current directory holds '$(ls "$tmp/cwd")', output directory '$(ls "$tmp/traced")'"
fi
quiet=$("$dtsim" run "$tiny" --set train.steps=1 --quiet --out "$tmp/quiet" 2>&1)
if [ $? -eq 0 ] && [ -z "$quiet" ]; then
    ok "--quiet prints nothing, gnuplot's warnings included"
else
    bad "--quiet printed: $(head -3 <<<"$quiet")"
fi

# synthetic data of another shape: three numbers; more than 256 classes only in cost mode
expect 2 "\[data\] shape needs 3 numbers" -- "$dtsim" check "$tiny" --set data.shape=28,28
expect 2 "classes = 1000: labels are bytes.*compute = cost" -- "$dtsim" check "$tiny" \
    --set data.classes=1000
expect 2 "\[data\] shape is for dataset = synthetic, not dataset = fashion-mnist" -- "$dtsim" check "$tiny" \
    --set data.dataset=fashion-mnist --set data.shape=3,32,32
expect 0 "model resnet: 174 layers, 25583592 parameters" -- "$dtsim" check "$tiny" \
    --set data.shape=3,224,224 --set data.classes=1000 --set train.compute=cost \
    --set model.kind=resnet --set model.preset=resnet50 --set model.stem=imagenet

# a scenario written for another strategy or model: its own keys are left out with a note
# (on devices large enough for a whole replica, which check now checks)
expect 0 "note: .*pipeline-bubble.ini:[0-9]+: \[strategy\] stages is a setting of kind = pipeline: left out" -- \
    "$dtsim" check "$src/scenarios/pipeline-bubble.ini" --set strategy.kind=data-parallel \
    --platform "$src/platforms/dgx-2x8.xml"
# check describes every rank: a replica too large for its device is refused there
expect 2 "out of memory on rank 0 \(host gpu0\): it needs 0.187 GB" -- \
    "$dtsim" check "$src/scenarios/pipeline-bubble.ini" --set strategy.kind=data-parallel
expect 0 "note: .*tiny.ini:5: \[model\] hidden is a setting of kind = mlp or cnn: left out" -- \
    "$dtsim" check "$tiny" --set model.kind=resmlp
# a platform that cuts a link during the run: refused for ranks that
# communicate (a failed transfer would stop SimGrid), fine for one worker
failing=$src/tests/platforms/failing-link.xml
expect 2 "failing-link.xml:12: a link's state_file turns it off during the run" -- "$dtsim" run "$tiny" \
    --platform "$failing" --set strategy.kind=data-parallel --set cluster.workers=2 --out "$tmp/fail"
expect 0 "test accuracy" -- "$dtsim" run "$tiny" --platform "$failing" --out "$tmp/fail1" --no-plot

# --set section.key= puts a key back to its default, whoever gave it: tiny.ini
# sets seed = 3 and noise = 3 (defaults 1 and 0.5)
"$dtsim" run "$tiny" --quiet --no-plot --out "$tmp/reset" --set train.steps=2 \
    --set train.seed= --set data.noise=2 --set data.noise= >/dev/null 2>&1
expect 0 "^1 0.5$" -- jq -r '"\(.settings.train.seed) \(.settings.data.noise)"' "$tmp/reset/summary.json"
expect 2 "steps has no fixed default to go back to" -- "$dtsim" check "$tiny" --set train.steps=
expect 2 "local_steps = '0' is not valid: expected a whole number from 1" -- \
    "$dtsim" check "$tiny" "${dp[@]}" --set strategy.kind=local-sgd --set cluster.workers=2 \
    --set strategy.local_steps=0
expect 2 "allreduce = rhd across 3 replicas" -- "$dtsim" check "$tiny" "${dp[@]}" \
    --set strategy.kind=local-sgd --set cluster.workers=3 --set strategy.allreduce=rhd
expect 2 "topology.*a torus needs a worker count that is rows x columns.*but 7 is prime" -- \
    "$dtsim" check "$tiny" "${dp[@]}" --set strategy.kind=gossip --set cluster.workers=7 \
    --set strategy.topology=torus
expect 2 "strategy gossip needs at least 2 workers" -- "$dtsim" check "$tiny" "${dp[@]}" \
    --set strategy.kind=gossip --set cluster.workers=1
expect 2 "topology = 'star'" -- "$dtsim" check "$tiny" "${dp[@]}" --set strategy.kind=gossip \
    --set cluster.workers=4 --set strategy.topology=star
fed=(--platform "$src/tests/platforms/ideal-64.xml" --set strategy.kind=federated
     --set train.rounds=2)
for bad_frac in 0 1.5; do
    expect 2 "fraction = '$bad_frac' is not valid: expected a number > 0 and <= 1" -- \
        "$dtsim" check "$tiny" "${fed[@]}" --set strategy.fraction=$bad_frac
done
expect 2 "needs 65 hosts .* has 64; lower \[strategy\] clients" -- \
    "$dtsim" check "$tiny" "${fed[@]}" --set strategy.clients=64
expect 2 "alpha = '0' is not valid" -- "$dtsim" check "$tiny" "${fed[@]}" \
    --set strategy.partition=dirichlet --set strategy.alpha=0
expect 2 "alpha is for partition = dirichlet, not partition = iid" -- \
    "$dtsim" check "$tiny" "${fed[@]}" --set strategy.alpha=2
expect 2 "clients = 60, partition = shards: 100 samples cannot be split among 60 clients" -- \
    "$dtsim" check "$tiny" "${fed[@]}" --set strategy.clients=60 --set data.train_samples=100 \
    --set strategy.partition=shards
expect 2 "local_epochs = '0' is not valid" -- "$dtsim" check "$tiny" "${fed[@]}" \
    --set strategy.local_epochs=0
expect 2 "round_deadline = '-1' is not valid" -- "$dtsim" check "$tiny" "${fed[@]}" \
    --set strategy.round_deadline=-1
expect 2 "strategy federated counts rounds: give \[train\] rounds" -- \
    "$dtsim" check "$tiny" "${fed[@]}" --set train.epochs=2
expect 2 "rounds: strategy data-parallel counts steps, not rounds" -- \
    "$dtsim" check "$tiny" "${dp[@]}" --set train.rounds=3
ens=(--platform "$src/tests/platforms/ideal-64.xml" --set strategy.kind=ensemble)
expect 2 "members = '0' is not valid" -- "$dtsim" check "$tiny" "${ens[@]}" --set strategy.members=0
expect 2 "method = 'voting' is not valid: expected one of: bagging stacking boosting" -- \
    "$dtsim" check "$tiny" "${ens[@]}" --set strategy.method=voting
expect 2 "member_models: member 2: no model kind 'mlpx'" -- "$dtsim" check "$tiny" "${ens[@]}" \
    --set "strategy.member_models=mlp; mlpx; mlp; mlp"
expect 2 "member_models: member 1 \(mlp:abc\): model mlp: bad setting 'hidden=abc'" -- \
    "$dtsim" check "$tiny" "${ens[@]}" --set "strategy.member_models=mlp:abc; mlp; mlp; mlp"
expect 2 "member_models: member 2 \(gpt\): a gpt reads other inputs than the \[model\]'s images" \
    -- "$dtsim" check "$tiny" "${ens[@]}" --set "strategy.member_models=mlp; gpt; mlp; mlp"
expect 2 "member_models: 2 models for members = 4" -- "$dtsim" check "$tiny" "${ens[@]}" \
    --set "strategy.member_models=mlp; cnn"
expect 2 "boosting trains every member as the \[model\]" -- "$dtsim" check "$tiny" "${ens[@]}" \
    --set strategy.method=boosting --set "strategy.member_models=mlp; mlp; mlp; mlp"
expect 2 "needs 90 hosts .* lower \[strategy\] members or member_workers" -- \
    "$dtsim" check "$tiny" "${ens[@]}" --set strategy.members=30 --set strategy.member_workers=3
expect 2 "bootstrap is for method = bagging" -- "$dtsim" check "$tiny" "${ens[@]}" \
    --set strategy.method=boosting --set strategy.bootstrap=off
expect 2 "--save-model saves member 1's parameters" -- "$dtsim" run "$tiny" "${ens[@]}" \
    --set strategy.method=stacking --set "strategy.member_models=mlp:8; mlp; mlp; mlp" \
    --save-model "$tmp/ens.bin" --out "$tmp/ens"
cod=(--platform "$src/tests/platforms/ideal-64.xml" --set strategy.kind=codistill
     --set cluster.workers=4)
expect 2 "distill_weight = '-1' is not valid" -- "$dtsim" check "$tiny" "${cod[@]}" \
    --set strategy.distill_weight=-1
expect 2 "groups = 3 does not divide \[cluster\] workers = 4" -- "$dtsim" check "$tiny" "${cod[@]}" \
    --set strategy.groups=3
expect 2 "groups = '1' is not valid" -- "$dtsim" check "$tiny" "${cod[@]}" --set strategy.groups=1
expect 2 "ratio is for compress = topk, randomk or gtopk, not fp16" -- "$dtsim" check "$tiny" \
    "${dp[@]}" --set cluster.workers=2 --set strategy.compress=fp16 --set strategy.ratio=0.1
expect 2 "ratio is for compress = topk, randomk or gtopk, not powersgd" -- "$dtsim" check "$tiny" \
    "${dp[@]}" --set cluster.workers=2 --set strategy.compress=powersgd --set strategy.ratio=0.1
expect 2 "rank is for compress = powersgd, not gtopk" -- "$dtsim" check "$tiny" "${dp[@]}" \
    --set cluster.workers=2 --set strategy.compress=gtopk --set strategy.rank=2
for bad_rank in 0 -1 1e9; do
    expect 2 "rank = '$bad_rank' is not valid" -- "$dtsim" check "$tiny" "${dp[@]}" \
        --set cluster.workers=2 --set strategy.compress=powersgd --set strategy.rank=$bad_rank
done
expect 2 "error_feedback is for compress = topk" -- "$dtsim" check "$tiny" "${dp[@]}" \
    --set cluster.workers=2 --set strategy.error_feedback=off
for bad_ratio in 0 1.5; do
    expect 2 "ratio = '$bad_ratio' is not valid: expected a number > 0 and <= 1" -- \
        "$dtsim" check "$tiny" "${dp[@]}" --set cluster.workers=2 --set strategy.compress=topk \
        --set strategy.ratio=$bad_ratio
done
expect 2 "compress = 'zip' is not valid: expected one of: none fp16 bf16 topk" -- \
    "$dtsim" check "$tiny" "${dp[@]}" --set cluster.workers=2 --set strategy.compress=zip
expect 2 "servers is a setting of kind = parameter-server" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set strategy.servers=2
expect 2 "cluster.workers=0" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=0
expect 2 "bucket_mb = '0'" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set strategy.bucket_mb=0
expect 2 "batch = '-4'" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set train.batch=-4
expect 2 "serial trains on one device" -- "$dtsim" run "$tiny" --set cluster.workers=2

# Parameter-server modes, backup workers, balance and [faults] slowdowns.
psv=(--set strategy.kind=parameter-server --platform "$src/platforms/hetero.xml" --set cluster.workers=4)
expect 2 "staleness is for mode = ssp, not mode = sync" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.staleness=2
expect 2 "staleness is for mode = ssp, not mode = async" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.mode=async --set strategy.staleness=2
expect 2 "mode = ssp needs \[strategy\] staleness" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.mode=ssp
expect 2 "staleness = '-1' is not valid" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.mode=ssp --set strategy.staleness=-1
expect 2 "backup_workers = '-1' is not valid" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.backup_workers=-1
expect 2 "backup_workers is for mode = sync, not mode = async" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.mode=async --set strategy.backup_workers=1
expect 2 "needs 9 hosts .* has 8" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.backup_workers=4
expect 2 "backup_workers = 1 needs servers = 1" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.backup_workers=1 --set strategy.servers=2
expect 2 "mode = 'bogus' is not valid: expected one of: sync async ssp" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.mode=bogus
expect 2 "mode is a setting of kind = parameter-server, not of kind = data-parallel" -- "$dtsim" run "$tiny" "${dp[@]}" --set strategy.mode=async
expect 2 "balance is a setting of kind = data-parallel, not of kind = parameter-server" -- "$dtsim" run "$tiny" "${psv[@]}" --set strategy.balance=speed
expect 2 "balance = 'fast' is not valid: expected one of: equal speed" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set strategy.balance=fast
expect 2 "slowdown = 'node-1 2 1 0.5' is not valid: expected HOST START END FACTOR" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set "faults.slowdown=node-1 2 1 0.5"
expect 2 "slowdown = 'node-1 0 1 0' is not valid" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set "faults.slowdown=node-1 0 1 0"
expect 2 "slowdown = 'node-1 0 1' is not valid" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set "faults.slowdown=node-1 0 1"
expect 2 "slowdown names host 'gpu9', which platform" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set "faults.slowdown=gpu9 0 1 0.5"
expect 2 "slowdown names host 'gpu9', which platform" -- "$dtsim" check "$tiny" "${dp[@]}" --set cluster.workers=2 --set "faults.slowdown=gpu9 0 1 0.5"
printf '[cluster]\nplatform = %s\n[faults]\nslowdown = node-1 0 1 0.5\nslowdown = node-2 0 1 7\n' "$src/platforms/cluster-10gbe.xml" >"$tmp/faults.ini"
expect 2 "faults.ini:5: \[faults\] slowdown = 'node-2 0 1 7' is not valid" -- "$dtsim" run "$tmp/faults.ini"

# Explicit placement: rank r on the r-th named host.
expect 0 "" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=3 --set cluster.hosts=node-7,node-2,node-5 --out "$tmp/placed" --quiet --no-plot
expect 0 '"host":[[:space:]]*"node-7"' -- sed -n '/"rank":[[:space:]]*0/,/"host"/p' "$tmp/placed/summary.json"
expect 0 '"host":[[:space:]]*"node-5"' -- sed -n '/"rank":[[:space:]]*2/,/"host"/p' "$tmp/placed/summary.json"
expect 2 "hosts names 'node-9', which the platform does not have" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set cluster.hosts=node-1,node-9
expect 2 "hosts names 'node-1' twice" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set cluster.hosts=node-1,node-1
expect 2 "hosts names 1 host but the run has 2 ranks" -- "$dtsim" run "$tiny" "${dp[@]}" --set cluster.workers=2 --set cluster.hosts=node-1
printf '[cluster]\nplatform = %s\nworkers = 4\nhosts = node-1, node-3,\n  node-5, node-7\n[strategy]\nkind = data-parallel\n[data]\ndataset = synthetic\n[train]\nsteps = 2\n' "$src/platforms/cluster-10gbe.xml" >"$tmp/hosts.ini"
expect 0 "ok" -- "$dtsim" check "$tmp/hosts.ini"
# the same list with its second line not indented: a second hosts, refused
sed 's/^  node-5/hosts = node-5/' "$tmp/hosts.ini" >"$tmp/hosts2.ini"
expect 2 "hosts2.ini:5: \[cluster\] hosts is already set on line 4; to go on with a long list, indent" \
    -- "$dtsim" check "$tmp/hosts2.ini"

# Nothing the user wrote is overwritten unless asked.
echo "precious" >"$tmp/model.bin"
expect 2 "exists; remove it or pass --force" -- "$dtsim" run "$tiny" --save-model "$tmp/model.bin" --out "$tmp/o1"
# --save-model's place is checked before the run, not after it
expect 2 "no directory '$tmp/nowhere' to write it in" -- "$dtsim" run "$tiny" \
    --save-model "$tmp/nowhere/model.bin" --out "$tmp/o1"
expect 1 "" -- test -e "$tmp/o1/summary.json"
expect 2 "is a directory; give a file name" -- "$dtsim" run "$tiny" --save-model "$tmp" --force \
    --out "$tmp/o1"
"$dtsim" run "$tiny" --out "$tmp/own" "${q[@]}" --no-plot
cp "$tmp/own/summary.json" "$tmp/own-summary.json"
expect 2 "is the run's own $tmp/own/summary.json; choose another file" -- "$dtsim" run "$tiny" \
    --out "$tmp/own" --save-model "$tmp/own/summary.json" --force
expect 0 "" -- cmp "$tmp/own/summary.json" "$tmp/own-summary.json"
expect 0 "precious" -- cat "$tmp/model.bin"
mkdir "$tmp/mine" && echo "notes" >"$tmp/mine/notes.txt"
expect 2 "did not write" -- "$dtsim" run "$tiny" --out "$tmp/mine" "${q[@]}"
expect 0 "notes" -- cat "$tmp/mine/notes.txt"
expect 0 "" -- "$dtsim" run "$tiny" --out "$tmp/mine" --force "${q[@]}"
# A directory dtsim wrote before may be written again.
expect 0 "test accuracy" -- "$dtsim" run "$tiny" --out "$tmp/o2"
expect 0 "test accuracy" -- "$dtsim" run "$tiny" --out "$tmp/o2"
expect 0 "train_loss" -- head -1 "$tmp/o2/metrics.csv"
if command -v gnuplot >/dev/null; then
    expect 0 "PNG" -- head -c 4 "$tmp/o2/training.png"
    expect 0 "PNG" -- head -c 4 "$tmp/o2/timeline.png"
fi
# the last step's spans: forward (kind 0) and update (kind 3) of rank 0
expect 0 "^0 [0-9.e-]+ [0-9.e-]+ 0$" -- cat "$tmp/o2/timeline.dat"
expect 0 "^0 [0-9.e-]+ [0-9.e-]+ 3$" -- cat "$tmp/o2/timeline.dat"
# Without gnuplot a run still succeeds, with a note.
expect 0 "note: gnuplot not found" -- env PATH=/nonexistent "$dtsim" run "$tiny" --out "$tmp/o3"
expect 0 "ok" -- "$dtsim" check "$tiny"

# The transformer on text: bad keys and files are named, with exit 2.
gpt=(--set model.kind=gpt --set data.dataset=text --set model.layers=1 --set model.d_model=16
     --set model.heads=2 --set model.seq_len=16)
expect 0 "ok" -- "$dtsim" check "$tiny" "${gpt[@]}"
expect 2 "model.heads.*heads = 3 does not divide d_model = 16" -- \
    "$dtsim" check "$tiny" "${gpt[@]}" --set model.heads=3
expect 2 "model.seq_len.*no (training|validation) window" -- \
    "$dtsim" check "$tiny" "${gpt[@]}" --set model.seq_len=60000
expect 2 "data.path.*'$tmp/none.txt'.*No such file" -- \
    "$dtsim" check "$tiny" "${gpt[@]}" --set data.path="$tmp/none.txt"
: >"$tmp/empty.txt"
expect 2 "data.path.*is empty" -- "$dtsim" check "$tiny" "${gpt[@]}" --set data.path="$tmp/empty.txt"
mkfifo "$tmp/fifo.txt"
expect 2 "data.path.*not a regular file" -- \
    "$dtsim" check "$tiny" "${gpt[@]}" --set data.path="$tmp/fifo.txt"
expect 2 "kind = gpt needs text data" -- "$dtsim" check "$tiny" --set model.kind=gpt
expect 2 "kind = mlp needs image data" -- "$dtsim" check "$tiny" --set data.dataset=text
expect 2 "heads = 2 is not a multiple of 4" -- "$dtsim" check "$tiny" "${gpt[@]}" \
    --platform "$src/platforms/dgx-2x8.xml" --set strategy.kind=tensor --set strategy.tp=4 \
    --set cluster.workers=4
expect 2 "stages = 2: .*tie_embeddings = on.*pipeline stages cannot split" -- \
    "$dtsim" check "$tiny" "${gpt[@]}" --set model.tie_embeddings=on \
    --platform "$src/platforms/dgx-2x8.xml" --set strategy.kind=pipeline --set cluster.workers=2
expect 2 "out of memory.*attention probabilities" -- "$dtsim" run "$tiny" "${gpt[@]}" \
    --set model.seq_len=1024 --set model.heads=16 --set model.d_model=64 --set train.batch=64 \
    --platform "$src/platforms/small-gpus.xml" --out "$tmp/oom"
expect 0 "validation loss .* nats per character" -- "$dtsim" run "$tiny" "${gpt[@]}" \
    --set train.steps=4 --set train.eval_every=4 --out "$tmp/gpt" --no-plot

# More samples than the data set has: the run goes on with a note
expect 0 "note: \[data\] train_samples = 100000 is more than the data set has: the run uses its 60000" \
    -- "$dtsim" check "$src/scenarios/quickstart.ini" --set data.train_samples=100000

# Files that are not regular files are refused at once (a FIFO would
# block the reader forever); CR-only line ends and over-long lines are
# named, and a long comment stays a comment
mkfifo "$tmp/fifo"
expect 2 "scenario '$tmp/fifo' is not a regular file" -- timeout 20 "$dtsim" check "$tmp/fifo"
expect 2 "scenario '$tmp' is not a regular file" -- "$dtsim" check "$tmp"
expect 2 "platform '$tmp/fifo' is not a regular file" -- timeout 20 "$dtsim" check "$tiny" \
    --platform "$tmp/fifo"
sed "s|^platform = .*|platform = $src/platforms/one-gpu.xml|" "$tiny" >"$tmp/here.ini"
tr '\n' '\r' <"$tmp/here.ini" >"$tmp/cr.ini"
expect 2 "cr.ini:1: its lines end with a carriage return alone" -- "$dtsim" check "$tmp/cr.ini"
# (its tail, read as a line, would be an unknown key of [strategy])
{ cat "$tmp/here.ini"; printf '; a long comment%0300d lr = 5\n' 0; } >"$tmp/long-comment.ini"
expect 0 "" -- "$dtsim" check "$tmp/long-comment.ini"
{ cat "$tmp/here.ini"; printf '; a long comment%0300d\nsteps = 5\n' 0; } >"$tmp/long-comment2.ini"
expect 2 "long-comment2.ini:$(($(wc -l <"$tmp/here.ini") + 2)): unknown key 'steps'" -- \
    "$dtsim" check "$tmp/long-comment2.ini"
sed "s/^\[model\]/[model]\nhidden = $(printf '8, %.0s' $(seq 80))8/" "$tmp/here.ini" >"$tmp/long.ini"
expect 2 "long.ini:[0-9]*: the line is too long for the INI reader" -- "$dtsim" check "$tmp/long.ini"

# A host SimGrid cannot compute on (speed 0, inf), or so slow that a run's
# seconds and joules overflow (1e-300f took 3.5e306 s), is refused by check
# and run alike, naming the file, the line and the host (SimGrid aborted
# the run)
for speed in 0f inf 1e-300f; do
    sed "s/speed=\"14Tf\"/speed=\"$speed\"/" "$src/platforms/one-gpu.xml" >"$tmp/speed.xml"
    expect 2 "speed.xml:32: host 'gpu0' computes at (0|inf|1e-300) flop/s" -- \
        "$dtsim" check "$tiny" --platform "$tmp/speed.xml"
    expect 2 "give it a finite speed of at least 1 flop/s" -- "$dtsim" run "$tiny" \
        --platform "$tmp/speed.xml" --out "$tmp/speed" "${q[@]}"
done

# Derived counts that would not fit an int are refused (workers x batch
# wrapped to 0 and a division by it killed the process)
for k in data-parallel parameter-server local-sgd hybrid; do
    expect 2 "batch x \[cluster\] workers = 65536 x 65536 = 4294967296 samples a step" -- \
        "$dtsim" check "$tiny" --set strategy.kind=$k --set cluster.workers=65536 \
        --set train.batch=65536 --platform "$src/platforms/cluster-10gbe.xml"
done

# A link SimGrid cannot carry a message on, named in words
sed 's/bw="1.25GBps"/bw="0Bps"/' "$src/platforms/cluster-10gbe.xml" >"$tmp/zero-bw.xml"
expect 2 "zero-bw.xml:54: link 'cluster-10gbe_link_0_DOWN' has a bandwidth of 0 bytes/s; give it a finite one of at least 1" -- \
    "$dtsim" check "$tiny" --platform "$tmp/zero-bw.xml" --set strategy.kind=data-parallel \
    --set cluster.workers=2
sed 's/lat="25us"/lat="-25us"/' "$src/platforms/cluster-10gbe.xml" >"$tmp/negative-lat.xml"
expect 2 "negative-lat.xml:54: link .* has a latency of -2.5e-05 s; give it a finite one of 0 or more" -- "$dtsim" run "$tiny" \
    --platform "$tmp/negative-lat.xml" --out "$tmp/neg" "${q[@]}"

# SimGrid dying without a word (its ns-3 model on a cluster) is named
expect 2 "SimGrid crashed (.*) loading it or sending its first messages, without a word; under --cfg=network/model:ns-3" -- \
    "$dtsim" check "$tiny" --cfg=network/model:ns-3 --set strategy.kind=data-parallel \
    --set cluster.workers=2 --platform "$src/platforms/cluster-10gbe.xml"

# A CNN with more pooling blocks than its image has halvings names the key
expect 2 "\[model\] channels: 5 conv \+ 2x2 max-pool blocks, but the 28x28 input halves to 1 pixel after 4; give at most 4" \
    -- "$dtsim" check "$src/scenarios/serial-cnn.ini" --set model.channels=8,8,8,8,8
# A synthetic sample too large for the model's sizes names [data] shape
# (the message came from the model's flatten, naming no key)
expect 2 "\[data\] shape = 4096,4096,4096 is 6.87e\+10 values a sample; at most 2147483647" -- \
    "$dtsim" check "$tiny" --set data.shape=4096,4096,4096 --set train.compute=cost
expect 2 "\[data\] shape = 4096,4096,256 is 4.29e\+09 values" -- "$dtsim" check \
    "$src/scenarios/serial-cnn.ini" --set data.dataset=synthetic --set data.shape=4096,4096,256

# A memory bandwidth so small that the clock went to infinity is refused
# before the run, naming the file and line
sed 's/memory_bandwidth" value="[^"]*"/memory_bandwidth" value="1e-300"/' \
    "$src/platforms/one-gpu.xml" >"$tmp/slow.xml"
expect 2 "slow.xml:32: host 'gpu0': property memory_bandwidth = '1e-300' is not a number of bytes per second of at least 1" -- \
    timeout 60 "$dtsim" run "$tiny" --platform "$tmp/slow.xml" --out "$tmp/slow" "${q[@]}" --no-plot
# The watchdog: a run whose clock goes to infinity all the same (a speed
# profile that slows the host 1e308-fold, under kernels of 1e13 flop) saves
# what it has and ends with exit 1, not 0 and "inf simulated s"
printf '0 1.0\n1e-7 3e-308\n' >"$tmp/crawl.speed"
sed 's|<host id="gpu0" speed="14Tf">|<host id="gpu0" speed="14Tf" speed_file="crawl.speed">|' \
    "$src/platforms/one-gpu.xml" >"$tmp/crawl.xml"
crawl=(--platform "$tmp/crawl.xml" --set train.compute=cost --set model.hidden=32768,32768
    --set data.train_samples=100000 --set train.batch=4096 --set train.steps=100 --no-plot)
expect 1 "the simulation stopped at inf simulated s: nothing could progress" -- \
    timeout 60 "$dtsim" run "$tiny" "${crawl[@]}" --out "$tmp/crawl" "${q[@]}"
expect 0 "" -- test -s "$tmp/crawl/summary.json"
expect 1 "the simulation stopped at inf simulated s: nothing could progress" -- timeout 60 \
    "$dtsim" run "$tiny" "${crawl[@]}" --set strategy.kind=data-parallel --set cluster.workers=1 \
    --out "$tmp/crawl-dp" "${q[@]}"
# a profile value SimGrid stops on (0) or cannot read (below 2.2e-308)
printf '0 1.0\n1e-7 0\n' >"$tmp/crawl.speed"
expect 2 "crawl.speed:2: host gpu0's speed profile: value 0: it scales the host's speed, so it must be above 0" -- \
    "$dtsim" check "$tiny" --platform "$tmp/crawl.xml"
printf '0 1.0\n1e-7 1e-310\n' >"$tmp/crawl.speed"
expect 2 "crawl.speed:2: host gpu0's speed profile: '1e-7 1e-310': SimGrid reads no number nearer 0" -- \
    "$dtsim" run "$tiny" --platform "$tmp/crawl.xml" --out "$tmp/crawl2" "${q[@]}"
# ... in a link's bandwidth profile, and in a trace written in the platform
two_hosts() { # two_hosts FILE LINK_ATTRIBUTES [TRACE...]: hosts a and b over link wire
    local out=$1 attrs=$2
    shift 2
    printf '%s\n' "<?xml version='1.0'?>" '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">' \
        '<platform version="4.1">' "$@" '<zone id="z" routing="Full">' \
        '<host id="a" speed="1Gf"/>' '<host id="b" speed="1Gf"/>' "<link id=\"wire\" $attrs/>" \
        '<route src="a" dst="b"><link_ctn id="wire"/></route>' '</zone>' \
        '<trace_connect kind="SPEED" trace="t" element="b"/>' '</platform>' >"$out"
}
printf '0 1e9\n5 0.5\n' >"$tmp/cut.bw"
two_hosts "$tmp/cut.xml" 'bandwidth="1GBps" latency="1us" bandwidth_file="cut.bw"' \
    '<trace id="t" periodicity="10">0 1</trace>'
expect 2 "cut.bw:2: link wire's bandwidth profile: value 0.5: it is the link's bandwidth in bytes/s, at least 1" -- \
    "$dtsim" collective --platform "$tmp/cut.xml" --op allreduce --algo ring --bytes 1M
two_hosts "$tmp/inline.xml" 'bandwidth="1GBps" latency="1us"' '<trace id="t" periodicity="10">' \
    '0 1.0' '4 -0.5' '</trace>'
expect 2 "inline.xml:6: host b's speed profile: value -0.5: it scales the host's speed" -- \
    "$dtsim" run "$tiny" --platform "$tmp/inline.xml" --set strategy.kind=data-parallel \
    --set cluster.workers=2 --out "$tmp/inline" "${q[@]}"

# Lists with an empty item are refused, not read as the others
expect 2 "hidden = '32,,16' is not valid: expected a comma-separated list" -- \
    "$dtsim" check "$tiny" --set model.hidden=32,,16
expect 2 "hidden = '32,16,' is not valid" -- "$dtsim" check "$tiny" --set model.hidden=32,16,

# A scenario without [cluster] platform runs on --platform (run, check and
# sweep), and without either is refused
sed '/^platform/d' "$tiny" >"$tmp/noplat.ini"
expect 2 "no platform: set \[cluster\] platform = FILE.xml or pass --platform" -- \
    "$dtsim" run "$tmp/noplat.ini" "${q[@]}"
expect 0 "" -- "$dtsim" run "$tmp/noplat.ini" --platform "$src/platforms/one-gpu.xml" "${q[@]}" \
    --set train.steps=2 --out "$tmp/noplat"
expect 0 "one-gpu.xml$" -- jq -r .platform "$tmp/noplat/summary.json"
expect 0 "2 runs" -- "$dtsim" sweep "$tmp/noplat.ini" --platform "$src/platforms/one-gpu.xml" \
    --set train.steps=2 --vary train.batch=8,16 --out "$tmp/noplat-sweep" --no-plot

# --trace-ranks: trace.json and timeline.dat keep the first ranks' spans,
# summary.json says so and still counts every rank
expect 2 "--trace-ranks 0: give a number of ranks from 1" -- "$dtsim" run "$tiny" --trace-ranks 0
expect 2 "--trace-ranks 2x: give a number" -- "$dtsim" run "$tiny" --trace-ranks 2x
expect 2 "--trace-ranks needs a value" -- "$dtsim" run "$tiny" --trace-ranks
four=(--set cluster.workers=4 --set strategy.kind=data-parallel --set train.steps=3 --no-plot
    --platform "$src/platforms/cluster-10gbe.xml")
expect 0 "trace.json and timeline.dat hold ranks 0-1 of 4" -- "$dtsim" run "$tiny" "${four[@]}" \
    --trace-ranks 2 --out "$tmp/trace2"
expect 0 "^0 1$" -- jq -r '[.traceEvents[] | select(.ph == "X") | .tid] | unique | join(" ")' \
    "$tmp/trace2/trace.json"
expect 0 "^0 1$" -- sh -c "awk '!/^#/ { print \$1 }' '$tmp/trace2/timeline.dat' | sort -u | xargs"
expect 0 "^2 4 true$" -- jq -r '"\(.trace_ranks) \(.hosts | length) \(.hosts[3].compute_seconds > 0)"' \
    "$tmp/trace2/summary.json"
"$dtsim" run "$tiny" "${four[@]}" --trace-ranks all --out "$tmp/trace-all" --quiet
expect 0 "^0 1 2 3$" -- jq -r '[.traceEvents[] | select(.ph == "X") | .tid] | unique | join(" ")' \
    "$tmp/trace-all/trace.json"
expect 0 "^null$" -- jq -r .trace_ranks "$tmp/trace-all/summary.json"

# Long work says where it is, on a terminal (script gives one): a
# collective over 512 ranks, and a step of 512 workers, show the messages
# delivered while they run; without a terminal, nothing of the kind.
cluster_xml "$tmp/c512.xml" 512
expect 0 "allreduce ring on 512 ranks: [0-9]+ messages delivered, sim [0-9.e-]+ s, wall" -- \
    timeout 60 script -qec "'$dtsim' collective --platform '$tmp/c512.xml' --op allreduce \
    --algo ring --bytes 16M" /dev/null
expect 0 "step 0/1  sim [0-9.e-]+ s  wall [0-9.]+ s  [0-9]+ messages" -- \
    timeout 60 script -qec "'$dtsim' run '$tiny' --platform '$tmp/c512.xml' --no-plot \
    --out '$tmp/long' --set strategy.kind=data-parallel --set cluster.workers=512 \
    --set train.batch=1 --set train.steps=1" /dev/null
expect 0 "^0$" -- bash -c "'$dtsim' collective --platform '$tmp/c512.xml' --op allreduce \
    --algo ring --bytes 16M 2>&1 | { grep -c 'messages delivered' || true; }"

# more cases of each class of bad input (at least two each):
# integer overflow in derived sizes
expect 2 "kind = hybrid runs dp x pp x tp = 65536 x 1 x 65536 = 4294967296 ranks, but \[cluster\] workers = 8" -- \
    "$dtsim" check "$tiny" --set strategy.kind=hybrid --set strategy.dp=65536 --set strategy.pp=1 \
    --set strategy.tp=65536 --set cluster.workers=8 --platform "$src/platforms/cluster-10gbe.xml"
expect 2 "batch x member_workers = 4294967296 samples a step, more than the 1073741824" -- \
    "$dtsim" check "$tiny" --set strategy.kind=ensemble --platform "$src/tests/platforms/ideal-64.xml" \
    --set strategy.members=64 --set strategy.member_workers=65536 --set train.batch=65536
# argument arrays filled from the command line
expect 2 "at most 64 --set options" -- "$dtsim" check "$tiny" $(printf -- '--set train.lr=0.1 %.0s' $(seq 65))
expect 2 "at most 64 --cfg options" -- "$dtsim" check "$tiny" $(printf -- '--cfg=network/model:CM02 %.0s' $(seq 65))
# platforms SimGrid accepts but cannot run
for speed in -14Tf -1f; do
    sed "s/speed=\"14Tf\"/speed=\"$speed\"/" "$src/platforms/one-gpu.xml" >"$tmp/neg-speed.xml"
    expect 2 "neg-speed.xml:32: host 'gpu0' computes at -1[.e+0-9]* flop/s; give it a finite speed of at least 1" -- \
        "$dtsim" run "$tiny" --platform "$tmp/neg-speed.xml" --out "$tmp/neg-speed" "${q[@]}"
done
sed 's/memory_bandwidth" value="[^"]*"/memory_bandwidth" value="0.5"/' \
    "$src/platforms/cluster-10gbe.xml" >"$tmp/slow-c.xml"
expect 2 "slow-c.xml:54: host 'node-0': property memory_bandwidth = '0.5' is not a number of bytes per second of at least 1" -- \
    timeout 60 "$dtsim" run "$tiny" --platform "$tmp/slow-c.xml" --set strategy.kind=data-parallel \
    --set cluster.workers=2 --set train.steps=2 --out "$tmp/slow-c" "${q[@]}" --no-plot
printf '%s\n' "<?xml version='1.0'?>" '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">' \
    '<platform version="4.1">' '<zone id="z" routing="Full">' '<host id="a" speed="1Gf"/>' \
    '<host id="b" speed="1Gf"/>' '<link id="wire" bandwidth="0Bps" latency="1us"/>' \
    '<route src="a" dst="b"><link_ctn id="wire"/></route>' '</zone></platform>' >"$tmp/zero-bw2.xml"
expect 2 "zero-bw2.xml:7: link 'wire' has a bandwidth of 0 bytes/s; give it a finite one of at least 1" -- "$dtsim" run "$tiny" \
    --platform "$tmp/zero-bw2.xml" --set strategy.kind=data-parallel --set cluster.workers=2 \
    --out "$tmp/zb2" "${q[@]}"
sed 's/lat="25us"/lat="-25us"/' "$src/platforms/cluster-10gbe.xml" >"$tmp/negative-lat.xml"
expect 2 "link 'cluster-10gbe_link_0_DOWN' has a latency of -2.5e-05 s; give it a finite one of 0 or more" -- \
    "$dtsim" check "$tiny" --platform "$tmp/negative-lat.xml" --set strategy.kind=data-parallel \
    --set cluster.workers=2
# files that are not regular files
mkdir -p "$tmp/adir"
expect 2 "platform '$tmp/adir' is not a regular file" -- "$dtsim" check "$tiny" --platform "$tmp/adir"
sed "s|^platform = .*|platform = $tmp/adir|" "$tiny" >"$tmp/platdir.ini"
expect 2 "platform '$tmp/adir' is not a regular file" -- "$dtsim" run "$tmp/platdir.ini" --out "$tmp/pd" "${q[@]}"
expect 2 "scenario '$tmp/fifo' is not a regular file" -- timeout 20 "$dtsim" run "$tmp/fifo" --out "$tmp/ff" "${q[@]}"
expect 2 "platform '$tmp/fifo' is not a regular file" -- timeout 20 "$dtsim" collective \
    --platform "$tmp/fifo" --op allreduce --algo ring --bytes 1M
# lines longer than the reader's buffer
{ printf '; %0300d bogus = 1\n' 0; cat "$tmp/here.ini"; } >"$tmp/long-comment3.ini"
expect 0 "long-comment3.ini: ok" -- "$dtsim" check "$tmp/long-comment3.ini"
{ cat "$tmp/here.ini"; printf '# a long comment%05000d\n[train]\n; %0300d\nlr = x\n' 0 0; } >"$tmp/long-comment4.ini"
expect 2 "long-comment4.ini:$(($(wc -l <"$tmp/here.ini") + 4)): \[train\] lr is already set on line 15" -- \
    "$dtsim" check "$tmp/long-comment4.ini"
# --save-model checked before the run
echo x >"$tmp/plain"
expect 2 "no directory '$tmp/plain' to write it in" -- "$dtsim" run "$tiny" \
    --save-model "$tmp/plain/model.bin" --out "$tmp/o4"
expect 1 "" -- test -e "$tmp/o4"
expect 2 "is a directory; give a file name" -- "$dtsim" run "$tiny" --save-model "$tmp/adir/" --force \
    --out "$tmp/o5"
"$dtsim" run "$tiny" --out "$tmp/own" "${q[@]}" --no-plot --set train.steps=2
expect 2 "is the run's own $tmp/own/summary.json; choose another file" -- "$dtsim" run "$tiny" \
    --out "$tmp/own" --save-model "$tmp/own/./summary.json" --force --set train.steps=2
expect 2 "is the run's own $tmp/own/metrics.csv" -- "$dtsim" run "$tiny" \
    --out "$tmp/own" --save-model "$tmp/own/metrics.csv" --force --set train.steps=2
# messages that say what to fix
sed '/^platform/d' "$tiny" >"$tmp/noplat.ini"
expect 2 "noplat.ini: no platform: set \[cluster\] platform = FILE.xml or pass --platform" -- \
    "$dtsim" check "$tmp/noplat.ini"
{ cat "$tmp/here.ini"; printf '[train]\rsteps = 5\r'; } >"$tmp/cr2.ini"
expect 2 "cr2.ini:$(($(wc -l <"$tmp/here.ini") + 1)): its lines end with a carriage return alone" -- \
    "$dtsim" check "$tmp/cr2.ini"
expect 2 "\[model\] channels: 8 conv \+ 2x2 max-pool blocks, but the 28x28 input halves to 1 pixel after 4; give at most 4" \
    -- "$dtsim" check "$tiny" --set model.kind=cnn --set model.channels=4,4,4,4,4,4,4,4
expect 2 "\[strategy\] pp = '65536' is not valid: expected a whole number from 1 to 1536" -- \
    "$dtsim" check "$tiny" --set strategy.kind=hybrid --set strategy.pp=65536
expect 2 "epochs = '2000000000' is not valid: expected a whole number from 1 to 1000000" -- \
    "$dtsim" check "$tiny" --set train.epochs=2000000000
# nothing accepted silently
printf '[cluster]\nplatform = %s\nworkers = 2\nhosts = node-1, node-3\n[strategy]\nkind = data-parallel\n[data]\ndataset = synthetic\n[train]\nsteps = 2\n[cluster]\nhosts = node-2, node-4\n' \
    "$src/platforms/cluster-10gbe.xml" >"$tmp/hosts5.ini"
expect 2 "hosts5.ini:12: \[cluster\] hosts is already set on line 4; to go on with a long list, indent" \
    -- "$dtsim" check "$tmp/hosts5.ini"
expect 0 "note: \[data\] test_samples = 100000 is more than the data set has: the run uses its 10000" \
    -- "$dtsim" check "$src/scenarios/quickstart.ini" --set data.test_samples=100000
# a NUL byte in a scenario: refused, naming its line (it hid the next line)
printf '[train]\n; note\0x\nbatch = 16\n' >"$tmp/nul.ini"
expect 2 "nul.ini:2: it holds a NUL byte" -- "$dtsim" check "$tmp/nul.ini"
printf '[model]\nkind = mlp\n[train]\nmomentum = 0.5\0junk' >"$tmp/nul2.ini"
expect 2 "nul2.ini:4: it holds a NUL byte" -- "$dtsim" check "$tmp/nul2.ini"
# --save-model through a link to the run's own summary.json, or onto a
# FIFO (which blocked after the training): refused before the run; and
# check refuses what run would
"$dtsim" run "$tiny" --out "$tmp/own2" "${q[@]}" --no-plot --set train.steps=2
ln -s "$tmp/own2/summary.json" "$tmp/link.bin"
expect 2 "--save-model '$tmp/link.bin' is a symbolic link, not a regular file" -- "$dtsim" run "$tiny" \
    --out "$tmp/own2" --save-model "$tmp/link.bin" --force --set train.steps=2
expect 0 "" -- jq -e .simulated_seconds "$tmp/own2/summary.json"
expect 2 "--save-model '$tmp/fifo' is a pipe or a device" -- timeout 20 "$dtsim" run "$tiny" \
    --save-model "$tmp/fifo" --force --out "$tmp/o6"
expect 2 "--save-model '/missing/m.bin': no directory '/missing' to write it in" -- \
    "$dtsim" check "$tiny" --save-model /missing/m.bin
# a precision SimGrid's solver gives up at ("The Impossible Did Happen")
for prec in maxmin/precision:1 surf/precision:1e10; do
    expect 2 "--cfg $prec: SimGrid's solver needs a small positive precision, from above 0 to 0.01" \
        -- "$dtsim" run "$tiny" --cfg=$prec --out "$tmp/prec" "${q[@]}"
done
# range messages state the maximum, however large
expect 2 "steps = '1000000001' is not valid: expected a whole number from 1 to 1000000000" -- \
    "$dtsim" check "$tiny" --set train.steps=1000000001
checks_done
