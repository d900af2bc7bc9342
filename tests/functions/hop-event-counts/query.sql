INSERT INTO event_counts
SELECT event_id, window_start, window_end,
       COUNT(*) AS event_count, SUM(`value`) AS total_value
FROM TABLE(HOP(TABLE events, DESCRIPTOR(event_time),
               INTERVAL '10' SECONDS, INTERVAL '30' SECONDS))
GROUP BY event_id, window_start, window_end
