-- Pairs of records of the same call: the logged side ({logged}) against the billed side
-- ({billed}). By the provider's request id where the logged side keeps it; otherwise by the
-- documented fallback: the same model, the same conversation digest, and the provider's
-- timestamp within the logged call's start and end (widened by {window_ms} ms). A fallback
-- candidate is taken only when each side is among the other's nearest and any tie is settled
-- by the other side's own unique choice, so that identical prompts at the same time stay
-- unmatched instead of being paired by a guess. Nearest means inside the logged
-- call first, then closest to its middle. The streaming flag is not a key: LiteLLM 1.63.14
-- logs `stream: true` for buffered InvokeModel calls.
WITH by_id AS (
  SELECT l.rid AS lrid, b.rid AS brid, 'request-id' AS joined_by
  FROM {logged} l JOIN {billed} b ON l.request_id = b.request_id
  WHERE {by_id}
),
candidates AS (
  SELECT l.rid AS lrid, b.rid AS brid,
         greatest(l.start_ms - b.start_ms, b.start_ms - l.end_ms, 0) AS outside,
         abs(b.start_ms - (l.start_ms + l.end_ms) / 2) AS gap
  FROM {logged} l JOIN {billed} b
    ON l.model_key = b.model_key AND l.prompt_hash = b.prompt_hash
  WHERE {by_fallback}
    AND ({fallback_everything} OR l.request_id IS NULL)
    AND ({fallback_everything} OR b.request_id NOT IN
         (SELECT request_id FROM {logged} WHERE request_id IS NOT NULL))
    AND b.start_ms BETWEEN l.start_ms - {window_ms} AND l.end_ms + {window_ms}
),
ranked AS (
  SELECT lrid, brid,
         rank() OVER (PARTITION BY lrid ORDER BY outside, gap) AS rank_for_logged,
         rank() OVER (PARTITION BY brid ORDER BY outside, gap) AS rank_for_billed,
         count(*) OVER (PARTITION BY lrid, outside, gap) AS ties_for_logged,
         count(*) OVER (PARTITION BY brid, outside, gap) AS ties_for_billed
  FROM candidates
),
-- Each is among the other's nearest; a tie on one side is settled when exactly one of the
-- tied candidates has this record as its own unique nearest.
near AS (
  SELECT lrid, brid, ties_for_logged, ties_for_billed,
         sum(CASE WHEN ties_for_billed = 1 THEN 1 ELSE 0 END) OVER (PARTITION BY lrid) AS settled_for_logged,
         sum(CASE WHEN ties_for_logged = 1 THEN 1 ELSE 0 END) OVER (PARTITION BY brid) AS settled_for_billed
  FROM ranked WHERE rank_for_logged = 1 AND rank_for_billed = 1
),
pairs AS (
  SELECT lrid, brid, joined_by FROM by_id
  UNION ALL
  SELECT lrid, brid, 'time-model-prompt' AS joined_by
  FROM near
  WHERE (ties_for_logged = 1 AND ties_for_billed = 1)
     OR (ties_for_billed = 1 AND settled_for_logged = 1)
     OR (ties_for_logged = 1 AND settled_for_billed = 1)
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
