#!/bin/sh
# The legacy transport against a guest that means harm (docs/mediator.md,
# "Legacy file transport"): each request.txt below is made in place, the way
# an attacker would, and must be answered at once, without a byte of it
# read, while another VM keeps being served:
#   - a hard link to a 0600 file outside the legacy directory: refused for
#     its link count, and nothing of the file comes back in response.txt;
#   - a FIFO (never opened for reading: the daemon would block), a symbolic
#     link, a directory: refused naming what each is;
#   - a line that does not parse is not quoted back.
# Every wait is bounded; a hang fails the test instead of stalling it.
# Usage: legacy_hostile.sh VGPU_MEDIATOR VGPU_TESTPEER VGPU_LEGACY_CLIENT
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
CLIENT=${3:-}
it_need "$CLIENT" vgpu-legacy-client
LG=$T/legacy
SECRET=$T/secret/shadow
bad='^error:INVALID_REQUEST:'

# answer VM: at most 10 s for vmVM/response.txt; prints it and removes it.
answer() {
    wait_file "$LG/vm$1/response.txt"
    cat "$LG/vm$1/response.txt"
    rm -f "$LG/vm$1/response.txt"
}

# expect VM PATTERN WHAT: the answer matches PATTERN; vm4 is still served.
expect() {
    answer "$1" >"$T/ans"
    grep -Eq "$2" "$T/ans" || fail "$3: answer '$(cat "$T/ans")'"
    if grep -q TOPSECRET "$T/ans"; then
        fail "$3: the answer quotes the secret: $(cat "$T/ans")"
    fi
    for f in request.txt request.txt.taken; do
        [ ! -e "$LG/vm$1/$f" ] || fail "$3: vm$1/$f is still there"
    done
    kill -0 "$DPID" 2>/dev/null || fail "$3: the daemon died"
    out=$("$CLIENT" --dir "$LG/vm4" --timeout-ms 5000 -- 20 22) ||
        fail "$3: vm4 is not served any more"
    [ "$out" = 42 ] || fail "$3: vm4 got '$out'"
    echo "$3: $(cat "$T/ans")"
}

mkdir -p "$LG/vm3" "$LG/vm4" "$T/secret"
printf 'TOPSECRET:the-root-password\n' >"$SECRET"
chmod 0600 "$SECRET"
start_daemon --pool A=cpu --legacy-dir "$LG"
wait_log 'legacy: serving' "the legacy transport did not start"

# A hard link: same inode as the secret, so its content would be read.
ln "$SECRET" "$LG/vm3/request.txt"
expect 3 "${bad}request.txt has 2 links" "hard link to a 0600 file"
[ "$(cat "$SECRET")" = "TOPSECRET:the-root-password" ] ||
    fail "the secret was changed"

# A hard link renamed into place (IN_MOVED_TO, not IN_CREATE).
ln "$SECRET" "$LG/vm3/.tmp"
mv "$LG/vm3/.tmp" "$LG/vm3/request.txt"
expect 3 "${bad}request.txt has 2 links" "hard link renamed in"

# A FIFO made in place: no writer will ever come.
mkfifo "$LG/vm3/request.txt"
expect 3 "${bad}request.txt is a FIFO, not a regular file" "FIFO"

# A symbolic link to the secret, in place.
ln -s "$SECRET" "$LG/vm3/request.txt"
expect 3 "${bad}request.txt is a symbolic link, not a regular file" "symlink"

# A directory.
mkdir "$LG/vm3/request.txt"
expect 3 "${bad}request.txt is a directory, not a regular file" "directory"

# The guest's own file, that does not parse: not quoted back.
printf 'TOPSECRET:the-root-password\n' >"$LG/vm3/request.txt"
expect 3 "${bad}2 fields, want 5" "unparsed line"

grep -q 'request.txt refused' "$LOG" || fail "the refusals are not logged"
stop_daemon || fail "the daemon did not exit 0"
echo "PASS: hostile request files answered at once, nothing read"
