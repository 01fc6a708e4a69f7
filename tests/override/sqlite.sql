-- sqlite.sql - the sqlite3 workload of make test-override (run on :memory:).
-- Builds a 10^6-row table, indexes it, and queries it; every result is
-- deterministic, so runs under different allocators print the same text.
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, s TEXT NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)
INSERT INTO t(id, k, s) SELECT x, (x * 7919) % 100003, printf('row-%d-%x-%s', x, x * 31, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26)) FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(k), min(s), max(s), sum(length(s)) FROM t;
SELECT k, count(*), sum(id) FROM t WHERE k BETWEEN 500 AND 505 GROUP BY k ORDER BY k;
SELECT group_concat(id, ',') FROM (SELECT id FROM t WHERE k = 4242 ORDER BY id);
SELECT s FROM t WHERE k = 77 ORDER BY s LIMIT 3;
SELECT k % 10, count(*), avg(length(s)) FROM t WHERE k < 20000 GROUP BY k % 10 ORDER BY 1;
DELETE FROM t WHERE id % 3 = 0;
UPDATE t SET s = s || '-updated' WHERE id % 5 = 0;
SELECT count(*), sum(length(s)) FROM t;
PRAGMA integrity_check;
