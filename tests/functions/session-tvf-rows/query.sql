INSERT INTO sessionized_clicks
SELECT user_id, page, window_start, window_end
FROM TABLE(SESSION(TABLE clickstream PARTITION BY user_id, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
