# sweep.gp - the pictures of a `dtsim sweep`, from the files it writes in
# its directory:
#   speedup.png/.svg    speedup and parallel efficiency against workers, one
#                       curve per group of variants that differ only in
#                       cluster.workers, with the ideal line
#   time-split.png/.svg where each variant's time goes: compute,
#                       transfers not hidden behind compute, waiting for a
#                       peer, idle
#   accuracy.png/.svg   training loss and test accuracy against simulated
#                       seconds, one curve per variant
# dtsim runs it at the end of a sweep; by hand:
#   gnuplot -e "dir='results/sweep-quickstart'; title='...'" plots/sweep.gp

if (!exists("dir")) dir = "."
if (!exists("title")) title = "dtsim sweep"
scaling = dir . "/plot-scaling.dat"
runs = dir . "/plot-runs.dat"
groups = int(system("grep -c '^\"' " . scaling))
nruns = int(system("grep -c '^run-' " . runs))

set grid
set key outside right top
do for [kind in "png svg"] {
    if (kind eq "png") {
        set terminal pngcairo size 1280,900 font "Sans,14" linewidth 2
    } else {
        set terminal svg size 1280,900 font "Sans,14" linewidth 2
    }

    set output dir . "/speedup." . kind
    set multiplot layout 2,1 title title font "Sans,16"
    set xlabel "workers"
    set logscale x 2
    set logscale y 2
    set format y "%g"
    set ylabel "speedup (samples per simulated second)"
    plot for [i=0:groups-1] scaling index i using 1:4 with lines dashtype 2 lc "gray" \
             title (i == 0 ? "ideal" : ""), \
         for [i=0:groups-1] scaling index i using 1:2 with linespoints lt i + 1 \
             title columnheader(1)
    set ylabel "parallel efficiency"
    set logscale y 10
    set format y "%g"
    plot for [i=0:groups-1] scaling index i using 1:3 with linespoints lt i + 1 \
             title columnheader(1)
    set format y
    unset logscale x
    unset logscale y
    unset multiplot
    set output

    set output dir . "/time-split." . kind
    set title title . ": where the time goes" font "Sans,16"
    set style data histograms
    set style histogram rowstacked
    set style fill solid 0.8 border -1
    set boxwidth 0.7
    set xlabel ""
    set ylabel "fraction of the ranks' time"
    set yrange [0:1]
    set xtics rotate by -35
    plot runs using 3:xtic(2) title "compute" lc rgb "#4878d0", \
         "" using 4 title "communication" lc rgb "#956cb4", \
         "" using 5 title "waiting" lc rgb "#c8c8c8", "" using 6 title "idle" lc rgb "#f5f5f5"
    unset yrange
    set xtics norotate
    unset title
    set output

    set output dir . "/accuracy." . kind
    set multiplot layout 2,1 title title . ": loss and accuracy over simulated time" font "Sans,16"
    set xlabel "simulated time (s)"
    set xrange [0:*]
    set datafile separator ","
    label(i) = system(sprintf("awk 'NR == %d + 2 { sub(/^[^\"]*\"/, \"\"); sub(/\".*/, \"\"); print }' %s", i, runs))
    set lmargin at screen 0.08
    set rmargin at screen 0.68 # both panels as wide, the key beside them
    set ylabel "training loss"
    unset key
    plot for [i=0:nruns-1] sprintf("%s/run-%03d/metrics.csv", dir, i) using 3:4 \
         with linespoints lt i + 1 notitle
    set ylabel "test accuracy"
    set key at screen 0.99, screen 0.95 font "Sans,11" spacing 0.9
    plot for [i=0:nruns-1] sprintf("%s/run-%03d/metrics.csv", dir, i) using 3:6 \
         with linespoints lt i + 1 title label(i)
    unset multiplot
    unset rmargin
    unset lmargin
    set key outside right top font "Sans,14" spacing 1
    set datafile separator whitespace
    unset xrange
    set output
}
