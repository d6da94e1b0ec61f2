#!/bin/sh
# debugging.sh PAGE VGPU_SIM: the CTest test docs/debugging. Runs the gdb
# session of PAGE (docs/debugging.md) as the page gives it: the script is
# the fenced block after the line "<!-- docs/debugging: script ...", the
# program's arguments are those of the page's "gdb -batch -x sim.gdb --args"
# command, and what gdb prints must contain the lines of the fenced block
# after "<!-- docs/debugging: transcript ...", in that order. Both sides are
# compared with what varies from run to run taken out (norm below); a line
# "..." in the page stands for lines cut. So the test fails when the page
# and the code drift apart: a function renamed, a line number moved, a
# value that changed.
#
# Exit 0 pass, 1 fail, 77 skipped (no gdb).
set -u
PAGE=${1:?usage: debugging.sh PAGE VGPU_SIM}
SIM=${2:?usage: debugging.sh PAGE VGPU_SIM}
if ! command -v gdb >/dev/null 2>&1; then
    echo "SKIP: gdb is not installed (Debian package gdb)"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-docs.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}

# block MARKER: the fenced block that follows the line starting MARKER.
block() {
    awk -v m="$1" 'index($0, m) == 1 { on = 1; next }
        on == 1 && /^```/ { on = 2; next }
        on == 2 && /^```/ { exit }
        on == 2 { print }' "$PAGE"
}
block '<!-- docs/debugging: script' >"$T/sim.gdb"
block '<!-- docs/debugging: transcript' >"$T/expected"
[ -s "$T/sim.gdb" ] || fail "$PAGE: no marked gdb script"
[ -s "$T/expected" ] || fail "$PAGE: no marked transcript"
# The command line: "gdb -batch -x sim.gdb --args PROGRAM ARGS \", with its
# continuation lines; ARGS are given to the vgpu-sim built here.
ARGS=$(awk '/^ *gdb -batch -x sim.gdb --args / { on = 1 }
    on { line = line " " $0; if ($0 !~ /\\$/) exit }
    END { gsub(/\\/, " ", line); print line }' "$PAGE" |
    sed 's/.* --args [^ ]*//')
[ -n "$ARGS" ] || fail "$PAGE: no 'gdb -batch -x sim.gdb --args' command"
echo "running: gdb -batch -x sim.gdb --args $SIM$ARGS"

# shellcheck disable=SC2086 # ARGS: the page's words, split as the shell would
gdb -nx -batch -x "$T/sim.gdb" --args "$SIM" $ARGS \
    </dev/null >"$T/out" 2>&1
echo "gdb exited $?"

# norm: what differs between runs and machines. Blanks squeezed;
# addresses (4+ hex digits) -> ADDR; a source path's directory up to src/
# dropped; process ids and the simulator's timings -> N.
norm() {
    sed -e 's/[[:space:]][[:space:]]*/ /g' -e 's/ $//' \
        -e 's/0x[0-9a-f]\{4,\}/ADDR/g' \
        -e 's#[^ ]*/src/#src/#g' \
        -e 's/(process [0-9]*)/(process N)/' \
        -e 's/_us=[0-9.]*/_us=N/g' "$1"
}
norm "$T/expected" | grep -v '^\.\.\.$' | grep -v '^$' >"$T/want"
norm "$T/out" >"$T/got"
# Each wanted line, in order, somewhere after the one before.
awk 'NR == FNR { want[++n] = $0; next }
    i < n && $0 == want[i + 1] { i++ }
    END {
        if (i < n) {
            printf "line %d of the transcript is not in gdb'"'"'s output " \
                "(after line %d):\n  %s\n", i + 1, i, want[i + 1]
            exit 1
        }
        printf "all %d lines of the transcript found in order\n", n
    }' "$T/want" "$T/got" || {
    echo "---- gdb's output (normalised) ----"
    cat "$T/got"
    fail "$PAGE and the code differ: update the page's transcript"
}
echo "PASS"
