-- Every difference between the two sides' records, one row per record and field, priced with
-- the price table: delta and usd are logged minus billed (positive: the logged side counts
-- more than was billed). {keys} stands for the pair's identifying columns. Then the records on one side only, priced at their whole usage, and
-- the invariants a logged record must hold on its own.
WITH d AS (
  SELECT p.*,
         coalesce(pr.input, 0) AS p_in, coalesce(pr.cache_read, 0) AS p_cr,
         coalesce(pr.cache_write, 0) AS p_cw, coalesce(pr.output, 0) AS p_out,
         p.logged_input_total - coalesce(p.logged_cache_read, 0)
           - coalesce(p.logged_cache_write, 0) AS logged_input,
         p.billed_input_total - coalesce(p.billed_cache_read, 0)
           - coalesce(p.billed_cache_write, 0) AS billed_input
  FROM pairs_{logged} p LEFT JOIN prices pr ON pr.key = p.price_key
),
fields AS (
  SELECT 'input-differs' AS class, 'input' AS field, {keys}, logged_input AS logged_n,
         billed_input AS billed_n, CAST(logged_input - billed_input AS DOUBLE) * p_in AS usd
  FROM d WHERE logged_cache_read IS NOT NULL AND logged_input <> billed_input
  UNION ALL
  SELECT 'input-differs', 'input_total', {keys}, logged_input_total, billed_input_total,
         CAST(logged_input_total - billed_input_total AS DOUBLE) * p_in
  FROM d WHERE logged_cache_read IS NULL AND logged_input_total <> billed_input_total
  UNION ALL
  SELECT 'cache-read-differs', 'cache_read', {keys}, logged_cache_read, billed_cache_read,
         CAST(logged_cache_read - billed_cache_read AS DOUBLE) * p_cr
  FROM d WHERE logged_cache_read IS NOT NULL AND logged_cache_read <> billed_cache_read
  UNION ALL
  SELECT 'cache-write-differs', 'cache_write', {keys}, logged_cache_write, billed_cache_write,
         CAST(logged_cache_write - billed_cache_write AS DOUBLE) * p_cw
  FROM d WHERE logged_cache_write IS NOT NULL AND logged_cache_write <> billed_cache_write
  UNION ALL
  SELECT CASE WHEN stream AND logged_output <= 1 AND billed_output > 1
              THEN 'placeholder-output' ELSE 'output-differs' END,
         'output', {keys}, logged_output, billed_output,
         CAST(logged_output - billed_output AS DOUBLE) * p_out
  FROM d WHERE logged_output <> billed_output
  UNION ALL
  SELECT 'cost-differs', 'cost', {keys}, NULL AS logged_n, NULL AS billed_n,
         logged_cost - (CAST(logged_input AS DOUBLE) * p_in
           + CAST(coalesce(logged_cache_read, 0) AS DOUBLE) * p_cr
           + CAST(coalesce(logged_cache_write, 0) AS DOUBLE) * p_cw
           + CAST(logged_output AS DOUBLE) * p_out)
  FROM d WHERE logged_cost IS NOT NULL AND price_key IS NOT NULL
    AND abs(logged_cost - (CAST(logged_input AS DOUBLE) * p_in
           + CAST(coalesce(logged_cache_read, 0) AS DOUBLE) * p_cr
           + CAST(coalesce(logged_cache_write, 0) AS DOUBLE) * p_cw
           + CAST(logged_output AS DOUBLE) * p_out)) > {cost_tolerance} * abs(logged_cost) + 1e-9
),
one_sided AS (
  SELECT r.*, coalesce(pr.input, 0) AS p_in, coalesce(pr.cache_read, 0) AS p_cr,
         coalesce(pr.cache_write, 0) AS p_cw, coalesce(pr.output, 0) AS p_out
  FROM {logged} r LEFT JOIN prices pr ON pr.key = r.price_key
  LEFT JOIN pairs_{logged} m ON m.lrid = r.rid
  WHERE m.lrid IS NULL
),
-- A provider request logged more than once: every record after the first is spend the
-- gateway counts twice (joined on the same id, each copy would otherwise agree and pass).
repeats AS (
  SELECT r.*, coalesce(pr.input, 0) AS p_in, coalesce(pr.cache_read, 0) AS p_cr,
         coalesce(pr.cache_write, 0) AS p_cw, coalesce(pr.output, 0) AS p_out
  FROM {logged} r
  JOIN (SELECT request_id, min(rid) AS first_rid FROM {logged}
        WHERE request_id IS NOT NULL GROUP BY request_id) f
    ON r.request_id = f.request_id AND r.rid <> f.first_rid
  LEFT JOIN prices pr ON pr.key = r.price_key
),
unlogged AS (
  SELECT r.*, coalesce(pr.input, 0) AS p_in, coalesce(pr.cache_read, 0) AS p_cr,
         coalesce(pr.cache_write, 0) AS p_cw, coalesce(pr.output, 0) AS p_out
  FROM {billed} r LEFT JOIN prices pr ON pr.key = r.price_key
  LEFT JOIN pairs_{logged} m ON m.brid = r.rid
  WHERE m.brid IS NULL
)
SELECT class, field, '{logged}' AS logged_table, joined_by, lrid, request_id, record_id, model,
       day, api_key, file, line, billed_file, billed_line,
       CAST(logged_n AS BIGINT) AS logged, CAST(billed_n AS BIGINT) AS billed,
       CAST(logged_n AS BIGINT) - CAST(billed_n AS BIGINT) AS delta, usd
FROM fields
UNION ALL
SELECT 'unbilled', 'record', '{logged}', NULL AS joined_by, rid, request_id, record_id, model,
       day, api_key, file, line, NULL AS billed_file, NULL AS billed_line, input_total + output,
       NULL AS billed, input_total + output,
       CAST(input_total - coalesce(cache_read, 0) - coalesce(cache_write, 0) AS DOUBLE) * p_in
         + CAST(coalesce(cache_read, 0) AS DOUBLE) * p_cr
         + CAST(coalesce(cache_write, 0) AS DOUBLE) * p_cw + CAST(output AS DOUBLE) * p_out
FROM one_sided
UNION ALL
SELECT 'unlogged', 'record', '{logged}', NULL AS joined_by, NULL AS lrid, request_id,
       record_id, model, day, api_key, NULL AS file, NULL AS line, file AS billed_file,
       line AS billed_line, NULL AS logged, input_total + output, -(input_total + output),
       -(CAST(input_total - coalesce(cache_read, 0) - coalesce(cache_write, 0) AS DOUBLE) * p_in
         + CAST(coalesce(cache_read, 0) AS DOUBLE) * p_cr
         + CAST(coalesce(cache_write, 0) AS DOUBLE) * p_cw + CAST(output AS DOUBLE) * p_out)
FROM unlogged
UNION ALL
SELECT 'logged-twice', 'record', '{logged}', NULL AS joined_by, rid, request_id, record_id,
       model, day, api_key, file, line, NULL AS billed_file, NULL AS billed_line,
       input_total + output, NULL AS billed, input_total + output,
       CAST(input_total - coalesce(cache_read, 0) - coalesce(cache_write, 0) AS DOUBLE) * p_in
         + CAST(coalesce(cache_read, 0) AS DOUBLE) * p_cr
         + CAST(coalesce(cache_write, 0) AS DOUBLE) * p_cw + CAST(output AS DOUBLE) * p_out
FROM repeats
UNION ALL
SELECT 'total-not-sum', 'total', '{logged}', NULL AS joined_by, rid, request_id, record_id,
       model, day, api_key, file, line, NULL AS billed_file, NULL AS billed_line, total, input_total + output,
       total - (input_total + output), 0.0
FROM {logged} WHERE total IS NOT NULL AND total <> input_total + output
UNION ALL
SELECT 'cached-beyond-prompt', 'cache', '{logged}', NULL AS joined_by, rid, request_id,
       record_id, model, day, api_key, file, line, NULL AS billed_file, NULL AS billed_line, coalesce(cache_read, 0) + coalesce(cache_write, 0),
       input_total, coalesce(cache_read, 0) + coalesce(cache_write, 0) - input_total, 0.0
FROM {logged} WHERE coalesce(cache_read, 0) + coalesce(cache_write, 0) > input_total
