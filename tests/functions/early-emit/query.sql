INSERT INTO counts
SELECT k, window_end, COUNT(*) AS cnt
FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY k, window_start, window_end
