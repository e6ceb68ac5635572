# training.gp - loss and test accuracy of one run against simulated time.
#
# Reads the run's metrics.csv (step,epoch,simulated_seconds,train_loss,
# test_loss,test_accuracy) and draws two panels sharing the time axis:
# losses on top, test accuracy below.  dtsim runs it at the end of
# `dtsim run`; by hand:
#   gnuplot -e "dir='results/serial-mlp'; title='serial-mlp'" plots/training.gp
# writes dir/training.png and dir/training.svg (text=1: labelled for a
# language model, with validation loss and next-character accuracy).

if (!exists("dir")) dir = "."
if (!exists("title")) title = "dtsim run"
# text=1: a language model, whose test set is the validation text
if (!exists("text")) text = 0
held = text ? "validation" : "test"
accuracy = text ? "next-character accuracy" : "test accuracy"
metrics = dir . "/metrics.csv"

set datafile separator ","
set key autotitle columnhead
set grid
set xlabel "simulated time (s)"
set format x "%g"
set xrange [0:*]

do for [kind in "png svg"] {
    if (kind eq "png") {
        set terminal pngcairo size 1280,900 font "Sans,14" linewidth 2
    } else {
        set terminal svg size 1280,900 font "Sans,14" linewidth 2
    }
    set output dir . "/training." . kind
    set multiplot layout 2,1 title title font "Sans,16"
    set ylabel (text ? "cross-entropy loss (nats per character)" : "cross-entropy loss")
    set key top right
    plot metrics using 3:4 with linespoints title "train loss", \
         metrics using 3:5 with linespoints title (held . " loss")
    set ylabel (accuracy)
    set key bottom right
    plot metrics using 3:6 with linespoints title (accuracy)
    unset multiplot
    set output
}
