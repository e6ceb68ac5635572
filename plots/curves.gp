# curves.gp - test accuracy against simulated time for a few runs, one
# curve each, and a target line: for comparing runs side by side (used by
# scenarios/ps-time-to-accuracy.sh).
#   gnuplot -e "dirs='results/a results/b'; labels='a b'; out='cmp.png'; target=0.83" plots/curves.gp
# dirs: run directories (their metrics.csv); labels: one word per run;
# out: the PNG to write; title, target (a horizontal line), logx (a
# logarithmic time axis, for runs whose times differ by orders of
# magnitude), rounds (steps or rounds on the x axis instead of
# simulated time) and energy (the devices' energy in kJ instead, from
# metrics.csv's device_joules: a platform that gives wattage) are
# optional.

if (!exists("title")) title = "test accuracy over simulated time"
set terminal pngcairo size 1200,700 font "Sans,13" linewidth 2
set output out
set title title font "Sans,15"
xcol = exists("rounds") ? 1 : 3
set xlabel (exists("rounds") ? "round" : "simulated time (s)")
if (exists("energy")) set xlabel "energy of the devices (kJ)"
set ylabel "test accuracy"
set grid
if (exists("logx")) set logscale x
set key outside right top noenhanced
set datafile separator ","
if (!exists("plots")) plots = "plots" # where styles.gp is
load plots . "/styles.gp"
file(i) = word(dirs, i) . "/metrics.csv"
if (!exists("target")) target = NaN
n = words(dirs)
x(c) = exists("energy") ? column(8) / 1000 : column(c)
plot for [i=1:n] file(i) using (x(xcol)):6 with linespoints lc rgb color(i - 1) dashtype dash(i - 1) \
         pointtype points(i - 1) pointsize 0.6 title word(labels, i), \
     target with lines dashtype 2 lc "gray" title sprintf("target %g", target)
