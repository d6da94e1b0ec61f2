# The queue's MiB/s of ADD_F32 input against the payload size, beside a
# bare Unix-socket stream of the same frames, pinned and unpinned
# (bench/plots.sh: data/queue_payload.dat).
load 'bench/plots/common.gp'
set title 'The queue (8 in flight): throughput against payload size'
set xlabel 'request payload (bytes, ADD_F32 n = (bytes - 8) / 8)'
set ylabel 'MiB/s of request input'
set logscale xy 2
set xtics ('128 B' 128, '1 KiB' 1024, '8 KiB' 8192, '64 KiB' 65536, \
           '512 KiB' 524288, '1 MiB' 1048576)
set yrange [1:*]
set format y '%g'
set key top left
plot datafile using 1:2 with linespoints title 'queue through vgpu-mediator, pinned (CPU 0)' lc rgb '#1f5fa8' pt 7, \
     '' using 1:3 with linespoints title 'bare stream, pinned' lc rgb '#8fb3dc' dt 2 pt 6, \
     '' using 1:4 with linespoints title 'queue through vgpu-mediator, unpinned' lc rgb '#c0392b' pt 5, \
     '' using 1:5 with linespoints title 'bare stream, unpinned' lc rgb '#e6a49c' dt 2 pt 4
