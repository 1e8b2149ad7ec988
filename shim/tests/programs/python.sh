# python3 with PYTHONMALLOC=malloc: every object through malloc.
set -e
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
python3 - <<'PY'
import collections, gc, hashlib, json, random, re

random.seed(42)
h = hashlib.sha256()

# dicts of lists of strings, grown and shrunk
d = {}
for i in range(200000):
    d[f"key{i}"] = [str(i)] * (i % 7)
    if i % 3 == 0:
        del d[f"key{i // 2}"]
h.update(repr(sorted(d.items())[:1000]).encode())

# objects with cycles, collected
class Node:
    def __init__(self, v):
        self.v = v
        self.next = None
nodes = [Node(i) for i in range(100000)]
for a, b in zip(nodes, nodes[1:] + nodes[:1]):
    a.next = b
del nodes
h.update(str(gc.collect()).encode())

# json round trips and big strings
blob = json.dumps([{"id": i, "tags": [random.random() for _ in range(5)]} for i in range(30000)])
back = json.loads(blob)
h.update(str(len(blob)).encode())
h.update(str(sum(x["id"] for x in back)).encode())

# regexes, counters, sets, bytearray resizing
words = re.findall(r"[a-z]+", " ".join(random.choice(["alpha", "beta", "gamma", "delta"]) * random.randint(1, 5) for _ in range(50000)))
h.update(repr(collections.Counter(words).most_common(3)).encode())
s = set()
for i in range(100000):
    s.add(i * 7919 % 100003)
h.update(str(len(s)).encode())
b = bytearray()
for i in range(100000):
    b += bytes([i % 256]) * (i % 5)
h.update(b)
print(h.hexdigest())
PY
