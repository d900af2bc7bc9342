INSERT INTO user_aggregations
SELECT user_id, window_start, window_end,
       COUNT(*) AS txn_count, SUM(amount) AS total, AVG(amount) AS avg_amount
FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
WHERE amount > 100
GROUP BY user_id, window_start, window_end
