/*
 * plot.h - pictures of a finished run, drawn by gnuplot.
 *
 * The scripts live in plots/ (the directory is compiled in, and the
 * DTSIM_PLOTS environment variable overrides it).  gnuplot is optional:
 * without it a run still writes all its results and says in one line that
 * it skipped the pictures.
 */
#ifndef DT_PLOT_H
#define DT_PLOT_H

/* Draw out_dir/training.png and .svg from out_dir/metrics.csv (text: a
 * language model's, validation loss and next-character accuracy).  Returns 0
 * when drawn, 2 when drawn but gnuplot warned, 1 when skipped (no
 * gnuplot), -1 when gnuplot failed; in the last three cases *note says
 * why.  What gnuplot prints goes to out_dir/<script>.log, never to the
 * terminal. */
int plot_training(const char *out_dir, const char *title, int text, char *note, int note_size);
/* The same for any script of plots/ that takes dir and title. */
int plot_script(const char *script, const char *out_dir, const char *title, char *note,
                int note_size);

#endif
