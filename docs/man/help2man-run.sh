#!/bin/sh
# help2man-run.sh PROGRAM OPTION: what help2man reads from PROGRAM OPTION
# (--help or --version; cmake/VgpuManPages.cmake), with the help's first
# line "usage: ..." spelled "Usage: ..." as help2man needs to make it the
# page's SYNOPSIS. Everything else is the program's own text; its stderr
# is not read (help2man discards it: a sanitizer's report never lands in a
# page).
prog=$1
shift
"$prog" "$@" | sed 's/^usage: /Usage: /'
