INSERT INTO cumulative
SELECT window_start, window_end, COUNT(*) AS cnt, SUM(v) AS total
FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECONDS, INTERVAL '30' SECONDS))
GROUP BY window_start, window_end
