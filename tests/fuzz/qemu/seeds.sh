#!/bin/sh
# tests/fuzz/qemu/seeds.sh DIR: write the seed corpus of QEMU's generic-fuzz
# for the vgpu-stub device (ci/qemu-checks.sh) into DIR.
#
# generic-fuzz (QEMU's tests/qtest/fuzz/generic_fuzz.c) reads its input as
# commands separated by "FUZZ": an opcode byte, then the command's struct
# as the C compiler lays it out on x86_64:
#   OP_WRITE (3)            u8 size (2: 32-bit), u8 base (the region: 0 is
#                           the only one, BAR0), 2 bytes padding, u32 offset,
#                           4 bytes padding, u64 value      (16 bytes)
#   OP_ADD_DMA_PATTERN (7)  u8 index, u8 stride, then the pattern's bytes:
#                           every DMA read of guest RAM the device does is
#                           filled with the pattern
# So each seed below reaches the queue at once: a DMA pattern that is a
# plausible SQ entry (input in RAM, an ECHO, an output buffer), then the
# queue registers (Q_BASE, Q_SIZE, Q_CTRL) and SQ_TAIL. Offsets and values
# are include/vgpu/regs.h's; the script repeats the few it needs.
set -eu
DIR=${1:?usage: seeds.sh DIR}
mkdir -p "$DIR"

OP_WRITE=3
OP_ADD_DMA_PATTERN=7
SIZE_LONG=2
REG_REQUEST_LEN=24    # 0x018
REG_DOORBELL=0        # 0x000
REG_IRQ_CTRL=40       # 0x028
REG_Q_BASE_LO=2112    # 0x840
REG_Q_SIZE=2120       # 0x848
REG_Q_CTRL=2124       # 0x84C
REG_SQ_TAIL=2128      # 0x850
REG_CQ_HEAD=2140      # 0x85C

# byte N: one byte, as an octal escape (POSIX printf has no \x).
byte() {
    printf "\\$(printf '%03o' "$(($1 & 255))")"
}

le32() {
    byte "$1"
    byte $(($1 >> 8))
    byte $(($1 >> 16))
    byte $(($1 >> 24))
}

le64() {
    le32 $(($1 & 4294967295))
    le32 $(($1 >> 32))
}

sep() {
    printf 'FUZZ'
}

# write OFFSET VALUE: a 32-bit MMIO write to BAR0.
write() {
    byte "$OP_WRITE"
    byte "$SIZE_LONG"
    byte 0
    byte 0
    byte 0
    le32 "$1"
    le32 0
    le64 "$2"
    sep
}

# sqe IN_ADDR IN_LEN TAG OUT_ADDR OUT_CAP: a DMA pattern that is this SQ
# entry (stride 0: every copy the same).
sqe() {
    byte "$OP_ADD_DMA_PATTERN"
    byte 0
    byte 0
    le64 "$1"
    le32 "$2"
    le32 "$3"
    le64 "$4"
    le32 "$5"
    le32 0
    sep
}

# queue BASE N TAIL: program and enable the queue, ring SQ_TAIL.
queue() {
    write "$REG_Q_BASE_LO" "$1"
    write "$REG_Q_SIZE" "$2"
    write "$REG_Q_CTRL" 1
    write "$REG_SQ_TAIL" "$3"
}

{
    sqe 65536 16 1 131072 64
    queue 16384 4 1
} >"$DIR/queue-one-entry"
{
    sqe 65536 1048576 7 131072 1048576
    write "$REG_IRQ_CTRL" 3
    queue 16384 8 8
    write "$REG_CQ_HEAD" 4
    write "$REG_SQ_TAIL" 12
} >"$DIR/queue-eight-1mib"
{
    sqe 4278190080 16 2 4278190080 64 # in and out at 0xFF000000
    queue 16384 1 1
} >"$DIR/queue-bad-addresses"
{
    write "$REG_REQUEST_LEN" 8
    write "$REG_IRQ_CTRL" 1
    write "$REG_DOORBELL" 1
} >"$DIR/mailbox-doorbell"
echo "seeds.sh: $(ls "$DIR" | wc -l) seeds in $DIR"
