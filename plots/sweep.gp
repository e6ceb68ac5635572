# sweep.gp - the pictures of a `dtsim sweep`, from the files it writes in
# its directory (plot-settings.gp says what varies):
#   speedup.png/.svg    when the workers vary: speedup (throughput against
#                       the sweep's one baseline, with the ideal line),
#                       samples per simulated second, parallel efficiency
#                       and seconds per step against workers, one curve per
#                       group of variants that differ only in the workers
#   scaling.png/.svg    when another numeric key varies: seconds per step,
#                       samples per simulated second and the strategy's own
#                       measures that change (a pipeline's bubble, a
#                       parameter server's staleness) against that key
#   time-split.png/.svg where each variant's time goes: compute,
#                       transfers not hidden behind compute, waiting for a
#                       peer, idle
#   accuracy.png/.svg   training loss and test accuracy against simulated
#                       seconds, one curve per variant (runs with compute =
#                       cost learn nothing: no picture)
# dtsim runs it at the end of a sweep; by hand, from the source tree:
#   gnuplot -e "dir='results/sweep-quickstart'; title='...'" plots/sweep.gp

if (!exists("dir")) dir = "."
if (!exists("title")) title = "dtsim sweep"
load dir . "/plot-settings.gp" # runs, xkey, xworkers, xlog, baseline, measures
groupfile = dir . "/plot-groups.dat"
runfile = dir . "/plot-runs.dat"
groups = xkey eq "" ? 0 : int(system("grep -c '^\"' " . groupfile))

if (!exists("plots")) plots = "plots" # where styles.gp is
load plots . "/styles.gp" # color(i), dash(i), points(i), keyfont(n), pow2(k)
set macros
XPOW2 = "set logscale x 2; set xtics (); do for [k=-20:20] { set xtics add (pow2(k) 2.0**k) }"
YPOW2 = "set logscale y 2; set ytics (); do for [k=-30:30] { set ytics add (pow2(k) 2.0**k) }"
RESET = "unset logscale; set xtics autofreq; set ytics autofreq; set format x; set format y; set yrange [*:*]; set offsets 0, 0, 0, 0"

set grid
do for [kind in "png svg"] {
    if (kind eq "png") {
        set terminal pngcairo size 1400,900 font "Sans,13" linewidth 2
    } else {
        set terminal svg size 1400,900 font "Sans,13" linewidth 2
    }

    if (groups > 0) {
        set output dir . (xworkers ? "/speedup." : "/scaling.") . kind
        set multiplot layout 2,2 title title . (xworkers ? "\nspeedup against " . baseline : "") \
            font "Sans,15" margins 0.07,0.75,0.09,0.86 spacing 0.09,0.13
        set xlabel (xworkers ? "workers" : xkey)
        if (xlog) { @XPOW2 }
        set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06
        groupfont = keyfont(groups)
        set key at screen 0.77, screen 0.86 left top font groupfont spacing 1.1
        if (xworkers) {
            set ylabel "speedup"
            @YPOW2
            plot for [i=0:groups-1] groupfile index i using 1:5 with lines dashtype 2 lc "gray" \
                     title (i == 0 ? "ideal" : ""), \
                 for [i=0:groups-1] groupfile index i using 1:3 with linespoints lc rgb color(i) \
                     dashtype dash(i) pointtype points(i) title columnheader(1)
            unset key
            unset logscale y
            set ytics autofreq
        }
        if (groups == 1) { unset key }
        set ylabel "samples per simulated second"
        if (xworkers) { set logscale y 10 } else { set yrange [0:*] }
        set format y "%.0s%c"
        plot for [i=0:groups-1] groupfile index i using 1:6 with linespoints lc rgb color(i) \
                 dashtype dash(i) pointtype points(i) title columnheader(1)
        unset key
        unset logscale y
        set format y
        set yrange [*:*]
        if (xworkers) {
            set ylabel "parallel efficiency"
            set yrange [0:*]
            plot for [i=0:groups-1] groupfile index i using 1:4 with linespoints lc rgb color(i) \
                     dashtype dash(i) pointtype points(i) notitle
        }
        set ylabel "simulated seconds per step"
        set yrange [0:*]
        plot for [i=0:groups-1] groupfile index i using 1:7 with linespoints lc rgb color(i) \
                 dashtype dash(i) pointtype points(i) notitle
        set yrange [*:*]
        if (!xworkers) {
            do for [m=1:(words(measures) < 2 ? words(measures) : 2)] {
                set ylabel word(measures, m) noenhanced
                set yrange [0:*]
                plot for [i=0:groups-1] groupfile index i using 1:(column(int(word(measure_columns, m)))) \
                         with linespoints lc rgb color(i) dashtype dash(i) pointtype points(i) notitle
            }
        }
        unset multiplot
        @RESET
        set key default
        set output
    }

    set output dir . "/time-split." . kind
    set title title . ": where the ranks' time goes" font "Sans,15"
    set style data histograms
    set style histogram rowstacked
    set style fill solid 0.85 border rgb "#505050"
    set boxwidth 0.75
    set xlabel ""
    set ylabel "fraction of the ranks' time"
    set yrange [0:1]
    set key outside right top font "Sans,12"
    ticfont = runs > 40 ? "Sans,7" : runs > 20 ? "Sans,9" : "Sans,12"
    set xtics rotate by 90 right font ticfont noenhanced
    plot runfile using 3:xtic(2) title "compute" lc rgb "#4878d0", \
         "" using 4 title "communication" lc rgb "#956cb4", \
         "" using 5 title "waiting" lc rgb "#c8c8c8", "" using 6 title "idle" lc rgb "#f5f5f5"
    unset title
    @RESET
    set xtics norotate font "Sans,13"
    set output

    if (!exists("learned") || learned) { # compute = cost runs learn nothing
        set output dir . "/accuracy." . kind
        set multiplot layout 2,1 title title . ": loss and accuracy over simulated time" font "Sans,15"
        set xlabel "simulated time (s)"
        set xrange [0:*]
        set datafile separator ","
        label(i) = system(sprintf("awk 'NR == %d + 2 { sub(/^[^\"]*\"/, \"\"); sub(/\".*/, \"\"); print }' %s", i, runfile))
        # both panels as wide, the key beside them in as many columns as it needs
        keycols = runs <= 14 ? 1 : runs <= 40 ? 2 : 3
        set lmargin at screen 0.09
        set rmargin at screen 0.97 - 0.16 * keycols
        # a flat curve (one evaluation, or equal values) still gets a y range
        lo4 = lo6 = 1e308
        hi4 = hi6 = -1e308
        do for [i=0:runs-1] {
            stats sprintf("%s/run-%03d/metrics.csv", dir, i) using 4 nooutput
            lo4 = STATS_min < lo4 ? STATS_min : lo4
            hi4 = STATS_max > hi4 ? STATS_max : hi4
            stats sprintf("%s/run-%03d/metrics.csv", dir, i) using 6 nooutput
            lo6 = STATS_min < lo6 ? STATS_min : lo6
            hi6 = STATS_max > hi6 ? STATS_max : hi6
        }
        set ylabel "training loss"
        if (hi4 - lo4 < 1e-9) { set yrange [lo4 - 0.05 * abs(lo4) - 0.01:hi4 + 0.05 * abs(hi4) + 0.01] }
        unset key
        plot for [i=0:runs-1] sprintf("%s/run-%03d/metrics.csv", dir, i) using 3:4 \
             with linespoints lc rgb color(i) dashtype dash(i) pointtype points(i) pointsize 0.7 notitle
        set ylabel (exists("text") && text ? "next-character accuracy" : "test accuracy")
        set yrange [*:*]
        if (hi6 - lo6 < 1e-9) { set yrange [lo6 - 0.01:hi6 + 0.01] }
        runfont = keyfont(runs)
        set key at screen 0.99, screen 0.93 right top Left reverse font runfont spacing 0.9 \
            samplen 2 noenhanced maxrows (runs + keycols - 1) / keycols
        plot for [i=0:runs-1] sprintf("%s/run-%03d/metrics.csv", dir, i) using 3:6 \
             with linespoints lc rgb color(i) dashtype dash(i) pointtype points(i) pointsize 0.7 \
             title label(i)
        unset multiplot
        unset rmargin
        unset lmargin
        set key default
        set datafile separator whitespace
        unset xrange
        set yrange [*:*]
        set output
    }
}
