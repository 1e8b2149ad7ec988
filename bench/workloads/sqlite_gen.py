"""sqlite_gen.py - writes the SQL script of the sqlite3 workload.

A write-heavy session against an in-memory database, as one statement per
row (so the sqlite3 shell prepares, runs and finalises each one: parser
objects, VDBE programs and records all come from malloc): inserts into an
indexed table in transactions, updates that grow and shrink text values,
deletes, a second table filled by INSERT ... SELECT and indexed afterwards,
and a final aggregate so the work can't be skipped. Deterministic for a
given size. The runner generates it once, outside the timed run.

usage: python3 sqlite_gen.py OUT.sql [--quick | --scale F]
"""
import random
import sys

from workload_args import parse_scale


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_path = sys.argv[1]
    scale = parse_scale(sys.argv[:1] + sys.argv[2:], __doc__)
    rows = max(2000, int(80000 * scale))
    rng = random.Random(4242)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
             "hotel", "india", "juliet", "kilo", "lima", "mike", "november"]

    def text(lo, hi):
        return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

    with open(out_path, "w") as f:
        w = f.write
        w("PRAGMA cache_size = -131072;\n")
        w("CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
          "body TEXT, qty INTEGER, price REAL);\n")
        w("CREATE INDEX item_name ON item(name);\n")
        w("CREATE INDEX item_qty ON item(qty, price);\n")
        batch = 5000
        for start in range(0, rows, batch):
            w("BEGIN;\n")
            for i in range(start, min(rows, start + batch)):
                w("INSERT INTO item VALUES(%d, '%s-%d', '%s', %d, %.2f);\n"
                  % (i, rng.choice(words), rng.randrange(10**6), text(2, 30),
                     rng.randrange(1000), rng.random() * 100))
            w("COMMIT;\n")
        w("BEGIN;\n")
        for _ in range(rows // 2):
            w("UPDATE item SET body = '%s', qty = qty + %d WHERE id = %d;\n"
              % (text(0, 60), rng.randrange(10), rng.randrange(rows)))
        w("COMMIT;\n")
        w("BEGIN;\n")
        for _ in range(rows // 4):
            w("DELETE FROM item WHERE id = %d;\n" % rng.randrange(rows))
        w("COMMIT;\n")
        w("CREATE TABLE summary AS SELECT name, qty, length(body) AS len, "
          "price * qty AS total FROM item;\n")
        w("CREATE INDEX summary_total ON summary(total);\n")
        w("UPDATE summary SET len = len + 1 WHERE qty % 3 = 0;\n")
        w("SELECT count(*), sum(len), round(sum(total)) FROM summary;\n")


if __name__ == "__main__":
    main()
