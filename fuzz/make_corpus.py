#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_zone into fuzz/corpus/ (or the directory given).

Each seed is a small program in fuzz_zone.c's input language, written here
with names instead of bytes so a reader can see what it exercises: exact first
fit in a fixed zone, growth over several extents, a zone over a misaligned
buffer, every kind of bad pointer, failing mappings, zone_walk freeing blocks,
chunk-crossing blocks, a zone full of one-granule blocks. A few seeded random
inputs follow. The decoding below mirrors fuzz_zone.c; if that changes, change
this and rerun it (the seeds are committed, the fuzzer only needs them as a
start, so a stale seed still works, it just tests something else).
"""
import os
import random
import sys

# Opcodes: the first index of each call in op_table (fuzz_zone.c).
CREATE, ALLOC, CALLOC, REALLOC, ALIGNED, FREE, BAD_PTR = 0, 2, 18, 22, 30, 35, 47
RESET, SCRIBBLE, DESTROY, WALK_FREE, DUMP, FAULT, BAD_ARGS, TRIM = 51, 52, 55, 56, 57, 58, 60, 61

# create modes (mode % 3) and flag bits
PLAIN, FLAGS, BUFFER = 0, 1, 2
GROW, UNLOCKED, SMALL, DEFER = 4, 8, 0x10, 0x20  # DEFER: its live blocks' frees deferred
# pick_size helpers
HUGE_SIZE_MAX, HUGE_SIZE_MAX_15, HUGE_HALF, HUGE_EXTENT, HUGE_PTRDIFF = range(5)
DELTA = {-16: 0, -1: 1, 0: 2, 1: 3, 16: 4}


def size(n):
    """A literal size for pick_size."""
    if n < 256:
        return [0, 0, n]
    assert n < 65536
    return [4, 0, n & 255, n >> 8]


def largest(delta=0):
    return [5, DELTA[delta]]


def zone_bytes(delta=0):
    return [6, DELTA[delta]]


def huge(i):
    return [7, 0, i]


class Program:
    """Builds an input; tracks how many blocks each zone holds (assuming the
    calls succeed unless told ok=False) so that block indexes mean what the
    seed says."""

    def __init__(self):
        self.b = []
        self.n = [0, 0, 0, 0]

    def op(self, code, slot=0):
        self.b.append(slot << 6 | code)
        return self

    def create(self, nbytes, mode=PLAIN, flags=0, slot=0, mis=0, fill=0xA5):
        bits = flags | (SMALL if nbytes <= 256 else 0)
        m = next(m for m in range(256) if m % 3 == mode and m & 0x3C == bits)
        self.op(CREATE, slot).b.append(m)
        self.n[slot] = 0
        if nbytes <= 256:
            self.b.append(nbytes - 1)
        else:
            self.b += [(nbytes - 1) & 255, (nbytes - 1) >> 8]
        if mode == BUFFER:
            self.b += [mis, fill]
        return self

    def alloc(self, sz, slot=0, ok=True):
        self.n[slot] += ok
        return self.op(ALLOC, slot)._add(sz)

    def calloc(self, count, sz, slot=0, ok=True):
        self.n[slot] += ok
        self.op(CALLOC, slot)
        if isinstance(count, list):
            self.b.append(0)
            self.b += count
        else:
            self.b += [1, count - 1]
        return self._add(sz)

    def realloc(self, index, sz, slot=0):
        """index None: zrealloc(NULL, ...); else the index-th block."""
        if index is None:
            self.n[slot] += 1
            sel = 0
        else:
            sel = index if index else self.n[slot]  # sel 0 would mean NULL
        self.op(REALLOC, slot).b.append(sel)
        return self._add(sz)

    def aligned(self, log2, sz, slot=0, ok=True):
        self.n[slot] += ok
        self.op(ALIGNED, slot).b.append(log2)
        return self._add(sz)

    def free(self, index, slot=0):
        self.n[slot] -= 1
        self.op(FREE, slot).b.append(index)
        return self

    def bad(self, how, action, pick=0, extra=None, sz=None, slot=0):
        self.op(BAD_PTR, slot).b += [how, pick]
        if extra is not None:
            self.b.append(extra)
        self.b.append(action)
        if sz is not None:
            self._add(sz)
        return self

    def scribble(self, byte, length, target=0, pick=0, skip=0, slot=0):
        self.op(SCRIBBLE, slot).b += [pick, byte, length & 255, length >> 8, target, skip]
        return self

    def simple(self, code, *args, slot=0):
        if code in (RESET, DESTROY):
            self.n[slot] = 0
        self.op(code, slot).b += list(args)
        return self

    def fault(self, slot=0):
        return self.op(FAULT, slot)

    def _add(self, sz):
        self.b += sz if isinstance(sz, list) else size(sz)
        return self

    def bytes(self):
        return bytes(self.b)


def seeds():
    out = {}

    p = Program().create(4096)
    p.alloc(100).alloc(40).alloc(200).free(0).alloc(60).alloc(0).alloc(16)
    p.realloc(1, 30).realloc(2, 500).realloc(3, 8).calloc(3, 24).aligned(6, 48).aligned(8, 100)
    p.simple(DUMP).alloc(largest()).alloc(largest(1), ok=False).alloc(zone_bytes(), ok=False)
    p.simple(RESET)
    p.alloc(zone_bytes()).alloc(1, ok=False).simple(RESET).alloc(zone_bytes(1), ok=False)
    p.simple(DUMP).simple(DESTROY)
    out["first_fit"] = p

    p = Program().create(1024, FLAGS, GROW)
    p.alloc(800).alloc(4000).alloc(60000).realloc(1, 65000).alloc(zone_bytes(16))
    p.aligned(12, 5000).aligned(15, 100).calloc(100, 600).realloc(2, 50000).simple(DUMP)
    p.fault().alloc(zone_bytes(16), ok=False).alloc(16).simple(WALK_FREE, 1).simple(DUMP).simple(RESET)
    p.alloc(largest()).alloc(largest(16)).simple(DESTROY)
    # pages given back, then zcalloc over them and over blocks freed before
    p.create(1 << 15, FLAGS, GROW).alloc(20000).alloc(100).alloc(9000).free(0).simple(TRIM, 0)
    p.calloc(1, 20000).realloc(1, 30000).free(0).simple(TRIM, 4).calloc(4, 4000)
    p.scribble(0x33, 60000).simple(TRIM, 1).calloc(10, 1000)
    out["grow"] = p

    p = Program().create(1000, BUFFER, mis=3, fill=0x5A)
    p.alloc(10).alloc(100).alloc(33).free(1).scribble(0xEE, 200).scribble(0x11, 9, pick=0x80)
    p.realloc(1, 200).alloc(largest()).scribble(0x77, 500, target=1).free(0).realloc(None, 48)
    p.simple(DUMP).simple(DESTROY)
    p.create(40, BUFFER, mis=15, fill=1).alloc(16).alloc(16).alloc(1).simple(DESTROY)
    p.create(15, BUFFER, mis=1)  # no whole granule: EINVAL
    out["buffer"] = p

    p = Program().create(8192).create(4096, slot=1)
    p.alloc(64).alloc(64).alloc(256).alloc(32, slot=1).free(1)
    for how in range(12):
        for action in range(4):
            extra = 1 if how in (2, 3, 7, 8) else None
            p.bad(how, action, pick=how, extra=extra, sz=(24 if action == 1 else None))
    p.simple(DESTROY, slot=1).simple(DESTROY)
    out["misuse"] = p

    p = Program().fault().create(4096).fault().create(4096, FLAGS, GROW)
    p.fault().create(500, BUFFER, mis=4).create(4096, FLAGS, GROW).alloc(4000)
    p.fault().alloc(5000, ok=False).fault().realloc(1, 9000).fault().aligned(12, 100, ok=False)
    p.fault().calloc(2, 3000, ok=False)
    p.alloc(5000).fault().alloc(16).simple(DUMP).simple(DESTROY)
    out["faults"] = p

    p = Program().create(65536)
    for n in (8000, 9000, 7000, 20000, 1000):
        p.alloc(n)
    p.free(1).alloc(8192).realloc(2, 16000).realloc(3, 100).free(0).aligned(13, 8100)
    p.simple(WALK_FREE, 2).alloc(largest()).simple(DUMP)
    out["chunks"] = p

    p = Program().create(4096, FLAGS, UNLOCKED)
    for _ in range(256):
        p.alloc(16)
    p.alloc(1, ok=False).simple(WALK_FREE, 1).alloc(32).alloc(16).simple(WALK_FREE, 0).alloc(32)
    p.simple(DUMP).simple(BAD_ARGS, 24, 8)
    out["full"] = p

    p = Program().create(2048).simple(BAD_ARGS, 0, 0).simple(BAD_ARGS, 3, 100)
    for h in range(5):
        p.alloc(huge(h), ok=False)
    p.calloc([4, 0, 255, 255], huge(HUGE_HALF), ok=False)
    p.alloc(100).realloc(1, huge(HUGE_SIZE_MAX)).aligned(15, huge(HUGE_SIZE_MAX_15), ok=False)
    out["bad_args"] = p

    # one-granule blocks at every phase, then aligned requests that a used
    # granule blocks just before an aligned address
    p = Program().create(8192)
    for n in (16, 32, 48, 16, 64, 16, 96, 16, 16, 128, 16):
        p.alloc(n)
    for i in (1, 3, 5, 7):
        p.free(i)
    for log2, n in ((5, 64), (6, 64), (6, 48), (7, 200), (5, 16), (9, 300), (4, 16), (3, 8)):
        p.aligned(log2, n)
    p.free(2).free(4).aligned(6, 128).aligned(10, 1000).aligned(12, 2000).simple(DUMP)
    # free granules 1-6, granule 7 used: a 64-aligned 4-granule fit is blocked
    # at granule 4 by granule 7 and must land on granule 8, the next aligned one
    p.create(4096, slot=1).alloc(16, slot=1).alloc(96, slot=1).alloc(16, slot=1).free(1, slot=1)
    p.aligned(6, 64, slot=1)
    out["aligned"] = p

    # frees deferred: allocations and frees run on unchecked between them,
    # fits below and above the waiting block, a new peak while one waits,
    # growth with one waiting
    p = Program().create(4096, FLAGS, DEFER)
    p.alloc(48).alloc(16).alloc(16).free(0).alloc(64).free(1).alloc(48).alloc(16).free(0)
    p.free(1).alloc(32).alloc(16).free(2).alloc(16).alloc(80).simple(DUMP)
    p.create(1024, FLAGS, GROW | DEFER, slot=1)
    for n in (300, 200, 400, 100):
        p.alloc(n, slot=1)
    p.free(1, slot=1).alloc(200, slot=1).free(0, slot=1).alloc(5000, slot=1).free(2, slot=1)
    p.alloc(16, slot=1).simple(WALK_FREE, 0, slot=1).simple(DESTROY, slot=1)
    out["deferred"] = p

    rng = random.Random(5)
    for i in range(6):
        out["random_%d" % i] = bytes(rng.randrange(256) for _ in range(64 + 64 * i))
    return out


def main():
    where = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(where, exist_ok=True)
    for name, prog in sorted(seeds().items()):
        data = prog if isinstance(prog, bytes) else prog.bytes()
        with open(os.path.join(where, name), "wb") as f:
            f.write(data)
        print("%-12s %5d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
