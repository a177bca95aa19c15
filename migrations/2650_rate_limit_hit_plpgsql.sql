-- rate_limit_hit (2600), the same rule, as plpgsql: a LANGUAGE sql function that cannot be inlined (it
-- writes) has its body parsed, analysed and planned again each time the statement calling it runs; a
-- plpgsql function plans its INSERT once per connection and keeps it. Every rate-limited request and
-- every unlock click (unlock_click, 2610) counts a hit through it (issue 16, item 2): in a loop of one
-- backend, 40–50 µs → ≈ 20 µs per hit.
CREATE OR REPLACE FUNCTION rate_limit_hit(p_key text, p_now timestamptz, p_window double precision)
RETURNS TABLE (window_start timestamptz, hits integer)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    INSERT INTO rate_limits AS r (key, window_start, hits) VALUES (p_key, p_now, 1)
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN r.window_start <= p_now - make_interval(secs => p_window) THEN 1 ELSE r.hits + 1 END,
        window_start = CASE WHEN r.window_start <= p_now - make_interval(secs => p_window) THEN p_now
                            ELSE r.window_start END
    RETURNING r.window_start, r.hits;
END
$$;
