-- Green Button daily energy per usage point, flow direction and local day (the utility's zone,
-- from interval_reads.local_start). Wh become kWh, therms stay therms (other units as sent).
-- consumption = forward (flow 1), export = reverse (flow 19), net = forward - reverse, or the
-- net channel (flow 4) itself; directions are separate rows, never added together here.
-- day_seconds is the local day's length (23, 24 or 25 h, from the UTC offsets of its first and
-- last interval); completeness = covered seconds / day_seconds (capped at 1).
-- Readings longer than a day (monthly or billing-period data) are not daily figures: they stay
-- in interval_reads and are left out here.
-- index: usage_point_id, local_date  (the API asks by usage point and day range)
WITH r AS (
    SELECT
        custodian,
        usage_point_id,
        flow_direction,
        CAST(local_start AS DATE) AS local_date,
        CASE uom WHEN 72 THEN 'kWh' WHEN 169 THEN 'therm' ELSE coalesce(unit, 'unknown') END AS unit,
        CASE uom WHEN 72 THEN value / 1000.0 ELSE value END AS qty,
        duration_s,
        utc_offset_s,
        row_number() OVER (
            PARTITION BY custodian, usage_point_id, flow_direction, CAST(local_start AS DATE), uom
            ORDER BY interval_start_utc
        ) AS rn_first,
        row_number() OVER (
            PARTITION BY custodian, usage_point_id, flow_direction, CAST(local_start AS DATE), uom
            ORDER BY interval_start_utc DESC
        ) AS rn_last
    FROM interval_reads
    WHERE value IS NOT NULL AND duration_s <= 90000
),
d AS (
    SELECT
        custodian,
        usage_point_id,
        flow_direction,
        local_date,
        unit,
        sum(qty) AS quantity,
        count(*) AS interval_count,
        sum(duration_s) AS covered_seconds,
        86400
        + max(CASE WHEN rn_first = 1 THEN utc_offset_s END)
        - max(CASE WHEN rn_last = 1 THEN utc_offset_s END) AS day_seconds
    FROM r
    GROUP BY custodian, usage_point_id, flow_direction, local_date, unit
)
SELECT
    custodian,
    usage_point_id,
    flow_direction,
    local_date,
    unit,
    CASE WHEN flow_direction = 1 THEN quantity END AS consumption,
    CASE WHEN flow_direction = 19 THEN quantity END AS export,
    CASE
        WHEN flow_direction = 1 THEN quantity
        WHEN flow_direction = 19 THEN -quantity
        WHEN flow_direction = 4 THEN quantity
    END AS net,
    interval_count,
    covered_seconds,
    day_seconds,
    -- DOUBLE, not `* 1.0`: a 1.0 literal is DECIMAL in Spark and PostgreSQL
    CASE
        WHEN covered_seconds >= day_seconds THEN CAST(1 AS DOUBLE)
        ELSE CAST(covered_seconds AS DOUBLE) / day_seconds
    END AS completeness
FROM d
