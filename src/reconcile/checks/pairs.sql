-- Pairs of records of the same call: the logged side ({logged}) against the billed side
-- ({billed}). By the provider's request id where the logged side keeps it; otherwise by the
-- documented fallback over {candidates} (candidates.sql). A fallback candidate is taken only
-- when each side is among the other's nearest, and a tie on one side is settled only when
-- exactly one of the tied candidates has this record as its own unique nearest, so that
-- identical prompts at the same time stay unmatched instead of being paired by a guess.
-- Aggregates and equi-joins only: both spill.
WITH by_id AS (
  SELECT l.rid AS lrid, b.rid AS brid, 'request-id' AS joined_by
  FROM {logged} l JOIN {billed} b ON l.request_id = b.request_id
  WHERE {by_id}
),
best_for_logged AS (SELECT lrid, min(dist) AS dist FROM {candidates} GROUP BY lrid),
best_for_billed AS (SELECT brid, min(dist) AS dist FROM {candidates} GROUP BY brid),
nearest_for_logged AS (
  SELECT c.lrid, c.brid FROM {candidates} c
  JOIN best_for_logged n ON c.lrid = n.lrid AND c.dist = n.dist
),
nearest_for_billed AS (
  SELECT c.lrid, c.brid FROM {candidates} c
  JOIN best_for_billed n ON c.brid = n.brid AND c.dist = n.dist
),
ties_for_logged AS (SELECT lrid, count(*) AS n FROM nearest_for_logged GROUP BY lrid),
ties_for_billed AS (SELECT brid, count(*) AS n FROM nearest_for_billed GROUP BY brid),
near AS (
  SELECT a.lrid, a.brid, tl.n AS ties_for_logged, tb.n AS ties_for_billed
  FROM nearest_for_logged a
  JOIN nearest_for_billed z ON a.lrid = z.lrid AND a.brid = z.brid
  JOIN ties_for_logged tl ON tl.lrid = a.lrid
  JOIN ties_for_billed tb ON tb.brid = a.brid
),
settled_for_logged AS (
  SELECT lrid, sum(CASE WHEN ties_for_billed = 1 THEN 1 ELSE 0 END) AS n FROM near GROUP BY lrid
),
settled_for_billed AS (
  SELECT brid, sum(CASE WHEN ties_for_logged = 1 THEN 1 ELSE 0 END) AS n FROM near GROUP BY brid
),
pairs AS (
  SELECT lrid, brid, joined_by FROM by_id
  UNION ALL
  SELECT near.lrid, near.brid, 'time-model-prompt' AS joined_by
  FROM near
  JOIN settled_for_logged sl ON sl.lrid = near.lrid
  JOIN settled_for_billed sb ON sb.brid = near.brid
  WHERE (ties_for_logged = 1 AND ties_for_billed = 1)
     OR (ties_for_billed = 1 AND sl.n = 1)
     OR (ties_for_logged = 1 AND sb.n = 1)
)
SELECT p.joined_by, p.lrid, p.brid,
       coalesce(b.request_id, l.request_id) AS request_id, l.record_id,
       b.model, coalesce(b.price_key, l.price_key) AS price_key, b.day, l.api_key, l.stream,
       l.file, l.line, b.file AS billed_file, b.line AS billed_line,
       l.input_total AS logged_input_total, b.input_total AS billed_input_total,
       l.cache_read AS logged_cache_read, b.cache_read AS billed_cache_read,
       l.cache_write AS logged_cache_write, b.cache_write AS billed_cache_write,
       l.output AS logged_output, b.output AS billed_output, l.cost AS logged_cost
FROM pairs p
JOIN {logged} l ON l.rid = p.lrid
JOIN {billed} b ON b.rid = p.brid
