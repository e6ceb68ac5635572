# timeline.gp - a Gantt chart of the last training step, one row per rank.
#
# Reads the run's timeline.dat (rank, start and end in ms from the start of
# the last step: rank 0's first forward after its second-to-last update, so
# that a pipeline's step shows whole; kind) and draws each span as a bar: forward,
# loss, backward and update (or other compute) on the device in the upper
# half of the rank's row; in the lower half, communication (a transfer in
# progress) and waiting (blocked on a peer not ready: a slower worker, a
# pipeline bubble); white where the rank is idle.  dtsim runs it at the end
# of `dtsim run`; by hand:
#   gnuplot -e "dir='results/quickstart'; title='quickstart'" plots/timeline.gp
# writes dir/timeline.png and dir/timeline.svg.

if (!exists("dir")) dir = "."
if (!exists("title")) title = "dtsim run"
data = dir . "/timeline.dat"
ranks = int(system("awk '!/^#/ { if ($1 + 1 > n) n = $1 + 1 } END { print n + 0 }' " . data))

set xlabel "time in the last step (ms)"
set ylabel "rank"
set yrange [ranks - 0.5:-0.5]
set ytics 1
if (ranks > 32) set ytics ranks / 16
set grid xtics
set key outside right top
set style fill solid 0.9 noborder
names = "forward loss backward update communication waiting"
colors = "#4878d0 #ee854a #6acc64 #d65f5f #956cb4 #c8c8c8"

do for [kind in "png svg"] {
    if (kind eq "png") {
        set terminal pngcairo size 1280, (ranks > 16 ? 900 : 300 + 40 * ranks) font "Sans,14"
    } else {
        set terminal svg size 1280, (ranks > 16 ? 900 : 300 + 40 * ranks) font "Sans,14"
    }
    set output dir . "/timeline." . kind
    set title title . ": one step" font "Sans,16"
    # compute in the upper half of a rank's row, communication and waiting
    # in the lower half, so that communication overlapping backward shows
    plot for [k=0:5] data \
         using (($2 + $3) / 2):($4 == k ? $1 + (k >= 4 ? 0.2 : -0.2) : 1/0):(($3 - $2) / 2):(0.18) \
         with boxxyerror lc rgb word(colors, k + 1) title word(names, k + 1)
    set output
}
