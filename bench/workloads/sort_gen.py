"""sort_gen.py - writes the input file of the sort workload.

Text lines of varied length, about 60 MB at full size (1.2 MB with --quick):
most lines are a few words (a geometric number of them, 8 on average, so
lengths run from a couple of bytes to several hundred), some start with a
number or repeat an earlier line, as log and word-list files do. Deterministic
for a given size. The runner generates it once, outside the timed run.

usage: python3 sort_gen.py OUT.txt [--quick | --scale F]
"""
import random
import sys

from workload_args import parse_scale

FULL_BYTES = 60_000_000


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_path = sys.argv[1]
    scale = parse_scale(sys.argv[:1] + sys.argv[2:], __doc__)
    target = max(100_000, int(FULL_BYTES * scale))
    rng = random.Random(6060)
    letters = "abcdefghijklmnopqrstuvwxyz"
    # A vocabulary with a skewed frequency: short common words, long rare ones.
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 12)))
             for _ in range(20000)]
    weights = [1.0 / (i + 10) for i in range(len(words))]
    pool = rng.choices(words, weights, k=1 << 20)   # drawn from in slices below
    recent = []
    written = 0
    with open(out_path, "w") as f:
        lines = []
        while written < target:
            r = rng.random()
            if r < 0.05 and recent:
                line = rng.choice(recent)                         # a duplicate
            else:
                n = 1
                while rng.random() < 0.875 and n < 200:            # geometric, mean 8
                    n += 1
                start = rng.randrange(len(pool) - n)
                line = " ".join(pool[start:start + n])
                if r < 0.25:
                    line = "%d %s" % (rng.randrange(10 ** rng.randint(1, 9)), line)
                if len(recent) < 4096:
                    recent.append(line)
                else:
                    recent[rng.randrange(4096)] = line
            lines.append(line)
            written += len(line) + 1
            if len(lines) >= 65536:
                f.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
