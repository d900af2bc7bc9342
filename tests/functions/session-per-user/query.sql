INSERT INTO user_sessions
SELECT user_id, window_start AS session_start, window_end AS session_end,
       COUNT(*) AS clicks, LAST_VALUE(page) AS last_page
FROM TABLE(SESSION(TABLE clickstream PARTITION BY user_id,
                   DESCRIPTOR(ts), INTERVAL '5' MINUTES))
GROUP BY user_id, window_start, window_end
