INSERT INTO sums
SELECT window_start, window_end, COUNT(*) AS cnt, SUM(x) AS s
FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECONDS))
WHERE 10 / x > 1
GROUP BY window_start, window_end
