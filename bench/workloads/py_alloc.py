"""py_alloc.py - an allocation-heavy Python program for the benchmark suite.

Run with PYTHONMALLOC=malloc so that every object goes through the C
allocator under test instead of pymalloc's arenas. It does what Python
programs spend their allocations on: dicts of records, strings built and
split, tuples and lists, a JSON round trip, sorting, and a cache that keeps
some objects and drops others, so lifetimes are mixed.

usage: python3 py_alloc.py [--quick | --scale F]
"""
import json
import random
import sys

from workload_args import parse_scale


def records(rng, n):
    """n small dicts, the bread and butter of Python heaps."""
    out = []
    for i in range(n):
        name = "user%06d" % rng.randrange(10**6)
        out.append({
            "id": i,
            "name": name,
            "tags": [name[:4], name[-3:], str(i % 97)],
            "score": rng.random(),
            "pos": (rng.randrange(1000), rng.randrange(1000)),
        })
    return out


def main():
    scale = parse_scale(sys.argv)
    rng = random.Random(12345)
    rounds = max(2, int(6 * scale))
    batch = max(2000, int(40000 * min(scale, 1.0)))
    cache = {}
    checksum = 0
    for r in range(rounds):
        recs = records(rng, batch)
        # JSON round trip: many short-lived strings, lists and dicts.
        text = json.dumps(recs[: batch // 3])
        back = json.loads(text)
        checksum += len(back)
        # Sorting and grouping: new lists, tuples and a dict of lists.
        recs.sort(key=lambda d: (d["name"], d["score"]))
        groups = {}
        for d in recs:
            groups.setdefault(d["tags"][2], []).append(d["id"])
        checksum += sum(len(v) for v in groups.values())
        # String building and splitting.
        line = ",".join(d["name"] for d in recs[:5000])
        checksum += len(line.split(","))
        # A cache with mixed lifetimes: keep a tenth, evict old entries.
        for d in recs[:: 10]:
            cache[(r, d["id"])] = d
        if len(cache) > 3 * batch // 10:
            for key in [k for k in cache if k[0] < r - 2]:
                del cache[key]
        del recs, back, groups, text, line
    print("py_alloc: %d rounds of %d records, checksum %d, cache %d"
          % (rounds, batch, checksum, len(cache)))


if __name__ == "__main__":
    main()
