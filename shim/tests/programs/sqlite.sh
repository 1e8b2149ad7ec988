# sqlite3: insert, index, update, delete, vacuum on a file database.
set -e
sqlite3 test.db <<'SQL'
PRAGMA journal_mode = DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL, blob BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO t(name, value, blob) SELECT 'name' || (i * 7919 % 60000), i * 1.5, zeroblob(i % 300) FROM n;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_value ON t(value);
UPDATE t SET value = value * 2, name = upper(name) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(value), min(name), max(name), sum(length(blob)) FROM t;
SELECT name, count(*) FROM t GROUP BY substr(name, 1, 5) ORDER BY 2 DESC, 1 LIMIT 5;
SELECT id, name FROM t WHERE name LIKE 'NAME12%' ORDER BY id LIMIT 5;
PRAGMA integrity_check;
SQL
