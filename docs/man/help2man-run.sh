#!/bin/sh
# help2man-run.sh PROGRAM OPTION: what help2man reads from PROGRAM OPTION
# (--help or --version; cmake/VgpuManPages.cmake), with the help's first
# line "usage: ..." spelled "Usage: ..." as help2man needs to make it the
# page's SYNOPSIS. Everything else is the program's own text.
prog=$1
shift
"$prog" "$@" 2>&1 | sed 's/^usage: /Usage: /'
