# Shared settings of bench/plots/*.gp; bench/plots.sh passes termname
# (pngcairo or png), datafile and outfile with gnuplot -e.
if (termname eq 'pngcairo') {
    set terminal pngcairo size 900,540 noenhanced font 'Sans,11'
} else {
    set terminal png size 900,540 noenhanced
}
set output outfile
set grid ytics lc rgb '#dddddd'
set key top left box opaque
set border 3
set tics nomirror
