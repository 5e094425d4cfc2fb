# SPDX-License-Identifier: MIT
# bench/plot.gp: draws docs/benchmarks.svg from the plot.tsv that bench/run_all.py writes
# (corio's speed divided by each reference's, one line per workload). scripts/bench.sh runs
#   gnuplot -e "data='build/bench/plot.tsv'; out='docs/benchmarks.svg'" bench/plot.gp
if (!exists("data")) data = "build/bench/plot.tsv"
if (!exists("out")) out = "docs/benchmarks.svg"
set terminal svg size 960,460 dynamic noenhanced font "sans,12" background "white"
set output out
set datafile separator "\t"
set datafile missing "?"
set title "corio's speed ÷ each reference's, same machine, same run (above 1: corio is faster)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.125:1024]
set ytics ("1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, "64" 64, "128" 128, "256" 256, "512" 512, "1024" 1024)
set grid ytics
set xtics rotate by -25 left nomirror
set key above horizontal
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot data using 2:xtic(1) title columnheader(2) lc rgb "#7f7f7f", \
     ''   using 3 title columnheader(3) lc rgb "#1f77b4", \
     ''   using 4 title columnheader(4) lc rgb "#2ca02c", \
     ''   using 5 title columnheader(5) lc rgb "#d62728"
