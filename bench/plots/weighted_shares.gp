# Policy weighted 4:2:1: each class's share of the executor per time slice,
# measured (points and lines, at the middle of each slice) and the target
# among the classes then backlogged (a dashed segment across each slice) (bench/plots.sh: data/weighted_shares.dat).
load 'bench/plots/common.gp'
set title 'Policy weighted (high:medium:low = 4:2:1): shares of executor time'
set xlabel 'time (s)'
set ylabel 'share of executor time (%)'
set yrange [0:105]
set autoscale xfix
set key outside right top
set rmargin 16
plot datafile using 1:3 with linespoints title 'high' lc rgb '#c0392b' pt 7 ps 0.7, \
     '' using 1:4 with linespoints title 'medium' lc rgb '#1f5fa8' pt 5 ps 0.7, \
     '' using 1:5 with linespoints title 'low' lc rgb '#27ae60' pt 9 ps 0.7, \
     '' using ($1 - $2 / 2):6:2:(0) with vectors nohead lc rgb '#c0392b' dt 2 lw 2 title 'high, target', \
     '' using ($1 - $2 / 2):7:2:(0) with vectors nohead lc rgb '#1f5fa8' dt 2 lw 2 title 'medium, target', \
     '' using ($1 - $2 / 2):8:2:(0) with vectors nohead lc rgb '#27ae60' dt 2 lw 2 title 'low, target'
