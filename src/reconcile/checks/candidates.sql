-- Fallback candidates of the logged side ({logged}) against the billed side ({billed}): the
-- same model, the same conversation digest, and the provider's timestamp within the logged
-- call's start and end widened by {window_ms} ms. `dist` orders candidates: inside the call
-- first, then closest to its middle. The streaming flag is not a key: LiteLLM 1.63.14 logs
-- `stream: true` for buffered InvokeModel calls. Written to a table before it is ranked, and
-- every join here is an equi-join (no NOT IN, which only a hash join can run), so that memory
-- stays bounded whatever the input.
WITH kept_ids AS (
  SELECT DISTINCT request_id FROM {logged} WHERE request_id IS NOT NULL
),
billed AS (
  SELECT b.rid, b.model_key, b.prompt_hash, b.start_ms
  FROM {billed} b LEFT JOIN kept_ids k ON b.request_id = k.request_id
  WHERE {fallback_everything} OR k.request_id IS NULL
)
SELECT l.rid AS lrid, b.rid AS brid,
       greatest(l.start_ms - b.start_ms, b.start_ms - l.end_ms, 0) * 1000000000
         + abs(b.start_ms - (l.start_ms + l.end_ms) / 2) AS dist
FROM {logged} l JOIN billed b
  ON l.model_key = b.model_key AND l.prompt_hash = b.prompt_hash
WHERE {by_fallback}
  AND ({fallback_everything} OR l.request_id IS NULL)
  AND b.start_ms BETWEEN l.start_ms - {window_ms} AND l.end_ms + {window_ms}
