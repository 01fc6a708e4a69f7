"""alloc_heavy.py - an allocation-heavy Python workload for make test-override.

Builds and tears down about 10^6 objects of many sizes (ints, floats, strings,
tuples, lists, dicts, sets, bytes), grows and shrinks containers so realloc is
exercised, and prints one line of counts and a checksum. The output depends
only on the program, never on addresses or hash seeds (sets are sorted before
they are summed), so two runs under different allocators print the same line.
Run as `PYTHONMALLOC=malloc python3 alloc_heavy.py` so that every object goes
through malloc (by default CPython serves objects up to 512 bytes from its own
arenas)."""
import zlib

N = 1_000_000


def checksum(acc, text):
    return zlib.crc32(text.encode(), acc)


def main():
    acc = 0
    # 1. A dict of N/4 string keys to small records (a tuple, a float, a list
    #    and a string each: about N objects).
    R = N // 4
    d = {}
    for i in range(R):
        key = "k%07d" % i
        d[key] = (i, float(i) * 0.5, [i % 7, "v" * (i % 13)])
    total = 0
    for i in range(0, R, 3):
        rec = d["k%07d" % i]
        total += rec[0] + len(rec[2][1])
    acc = checksum(acc, "dict %d %d" % (len(d), total))
    # Delete two thirds, then refill with bigger values (dict shrink/grow).
    for i in range(R):
        if i % 3:
            del d["k%07d" % i]
    for i in range(0, R, 3):
        d["k%07d" % i] = "x" * (i % 200) + str(i)
    acc = checksum(acc, "dict2 %d %d" % (len(d), sum(len(v) for v in d.values())))
    del d

    # 2. Lists of lists, appended one element at a time (list realloc).
    rows = []
    for i in range(N // 20):
        row = []
        for j in range(i % 25):
            row.append(i * j)
        rows.append(row)
    acc = checksum(acc, "lists %d %d" % (len(rows), sum(sum(r) for r in rows)))
    rows.sort(key=lambda r: (len(r), -sum(r)))
    acc = checksum(acc, "sorted %s" % rows[len(rows) // 2][:5])
    del rows

    # 3. Strings: join, split, replace, bytes round trips of growing sizes.
    words = [("w%d" % (i * 2654435761 % 1000003)) * (1 + i % 9) for i in range(N // 4)]
    text = " ".join(words)
    parts = text.split(" ")
    joined = "".join(p.upper() for p in parts if len(p) % 2)
    blob = joined.encode() + text.replace("w1", "W-1-").encode()
    acc = zlib.crc32(blob, acc)
    acc = checksum(acc, "strings %d %d %d" % (len(parts), len(joined), len(blob)))
    del words, text, parts, joined, blob

    # 4. Sets and dicts of ints churned in rounds (many short-lived objects).
    survivors = set()
    for r in range(20):
        s = {(r * 1_000_003 + i * 7919) % 5_000_011 for i in range(N // 20)}
        survivors ^= {x for x in s if x % 5 == r % 5}
    acc = checksum(acc, "sets %d %d" % (len(survivors), sum(sorted(survivors)[:1000])))
    print("alloc_heavy: objects=%d checksum=%08x" % (N, acc))


if __name__ == "__main__":
    main()
