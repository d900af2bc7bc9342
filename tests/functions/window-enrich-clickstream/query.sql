INSERT INTO enriched_clicks
SELECT user_id, url, ts, window_start, window_end
FROM TABLE(TUMBLE(TABLE clickstream, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
