INSERT INTO counts
SELECT window_start, window_end, COUNT(*) AS cnt
FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(_timestamp), INTERVAL '10' SECONDS))
GROUP BY window_start, window_end
