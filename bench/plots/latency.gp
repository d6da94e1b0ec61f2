# The NOP round trip's percentiles: the daemon beside the bare ping-pong,
# pinned on one CPU and unpinned (bench/plots.sh: data/latency.dat).
load 'bench/plots/common.gp'
set title 'NOP round trip: vgpu-mediator against a bare Unix-socket ping-pong'
set ylabel 'round trip (µs)'
set xlabel 'percentile'
set logscale y
set yrange [1:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
plot datafile using 2:xtic(1) title 'vgpu-mediator, pinned (CPU 0)' lc rgb '#1f5fa8', \
     '' using 3 title 'bare ping-pong, pinned' lc rgb '#8fb3dc', \
     '' using 4 title 'vgpu-mediator, unpinned' lc rgb '#c0392b', \
     '' using 5 title 'bare ping-pong, unpinned' lc rgb '#e6a49c'
