-- One hit on a rate limit's counter (core.postgres.PostgresRateLimiter.hit): counts the hit, or opens a
-- new window when the current one is `p_window` seconds old; returns the window's start and its hits.
-- A function so that a caller counting a hit inside its own statement (the one-call unlock click,
-- 2610_unlock_click.sql) applies the same rule.
CREATE FUNCTION rate_limit_hit(p_key text, p_now timestamptz, p_window double precision)
RETURNS TABLE (window_start timestamptz, hits integer)
LANGUAGE sql VOLATILE AS $$
    INSERT INTO rate_limits AS r (key, window_start, hits) VALUES (p_key, p_now, 1)
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN r.window_start <= p_now - make_interval(secs => p_window) THEN 1 ELSE r.hits + 1 END,
        window_start = CASE WHEN r.window_start <= p_now - make_interval(secs => p_window) THEN p_now
                            ELSE r.window_start END
    RETURNING r.window_start, r.hits
$$;
