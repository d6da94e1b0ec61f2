# Aggregate NOP/s against the number of VMs: the daemon beside a bare epoll
# server, pinned and unpinned; bars from the slowest to the fastest round
# (bench/plots.sh: data/throughput.dat).
load 'bench/plots/common.gp'
set title 'Aggregate NOP/s against connected VMs (one request in flight each)'
set xlabel 'VMs (clients, each its own connection and vm_id)'
set ylabel 'NOP requests/s'
set logscale x 2
set xrange [0.8:20]
set yrange [0:*]
set xtics (1, 2, 4, 8, 16)
set key tmargin center horizontal
plot datafile using 1:2:3:4 with yerrorlines title 'vgpu-mediator, pinned (CPU 0)' lc rgb '#1f5fa8' pt 7, \
     '' using 1:5:6:7 with yerrorlines title 'bare epoll, pinned' lc rgb '#8fb3dc' dt 2 pt 6, \
     '' using 1:8:9:10 with yerrorlines title 'vgpu-mediator, unpinned' lc rgb '#c0392b' pt 5, \
     '' using 1:11:12:13 with yerrorlines title 'bare epoll, unpinned' lc rgb '#e6a49c' dt 2 pt 4
