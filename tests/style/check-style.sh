#!/bin/sh
# Style check (STYLE.md rules 2 and 11): every C source and header is
# formatted as .clang-format says, and no `case` label spells a bare number.
set -eu
ROOT=$1
cd "$ROOT"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "SKIP: clang-format is not installed"
    exit 77
fi
files=$(git ls-files --cached --others --exclude-standard -- 'include/*.[ch]' 'docs/*.[ch]' 'src/*.[ch]' 'src/*.cu' 'tests/*.[ch]' 'bench/*.[ch]' 2>/dev/null ||
    find include src tests bench -name '*.[ch]')
[ -n "$files" ] || { echo "no sources found" >&2; exit 1; }
bad=0
for f in $files; do
    [ -f "$f" ] || continue
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f)"
        bad=1
    fi
done
# Register offsets, codes and op numbers come from include/vgpu/*.h only.
if grep -nE 'case +(0x[0-9a-fA-F]+|[0-9]+)u? *:' $files | grep -v '^include/'; then
    echo "bare numeric case label above: use the name from include/vgpu/"
    bad=1
fi
[ "$bad" -eq 0 ] && echo "style: $(echo "$files" | wc -w) files ok"
exit "$bad"
