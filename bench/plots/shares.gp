# Share accuracy (bench/share.sh): each VM's target beside the least and
# the most it got in any 1 s window of a 5 s deterministic run.
#   gnuplot -e "dat='docs/img/data/shares.dat'; out='docs/img/shares.png'" \
#       bench/plots/shares.gp
# Columns of the .dat: row mix vm target_pct min_pct max_pct cost_floors.
if (!exists("dat")) dat = 'docs/img/data/shares.dat'
if (!exists("out")) out = 'docs/img/shares.png'
set terminal pngcairo size 1100,520 font ",10" noenhanced
set output out
set title "Per-VM share of the executor: target and measured (each 1 s window of 5 s)"
set ylabel "percent of the executor"
set yrange [0:*]
set grid ytics
set key top right
set xtics rotate by -60 font ",8"
set style fill solid 0.4
set boxwidth 0.6
plot dat using 1:4:xticlabels(sprintf("%s vm%d", stringcolumn(2), $3)) \
         with boxes title "target", \
     dat using 1:(($5+$6)/2):5:6 with yerrorbars lc rgb "red" pt 7 ps 0.6 \
         title "measured: min..max over the windows"
