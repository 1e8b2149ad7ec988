# heap-map-job.py - the Python program whose heap docs/heap-maps.md shows: it
# builds batches of records, keeps a sliding sample of them and drops the
# rest, the way a cache or a batch job does, so its heap fills and fragments.
# Fixed seed: the same run every time. Run it with PYTHONMALLOC=malloc, or
# python's small-object allocator hides most objects from the shim.
import random

random.seed(7)
kept = []
for batch_no in range(40):
    batch = [{"id": i, "name": "item%d" % i * random.randint(1, 8),
              "tags": list(range(random.randint(0, 30)))}
             for i in range(800)]
    kept.extend(batch[::7])
    if len(kept) > 2000:
        del kept[:1000]
print(len(kept), sum(len(r["name"]) for r in kept))
