-- Daily LMP statistics per market, node and Pacific operating date (OPR_DT), in $/MWh.
-- A day has 23, 24 or 25 hours: the average is over exactly the intervals of that date.
-- On-peak (WECC, as traded): hour-ending 7..22 (opr_hour, Pacific prevailing time) on
-- Monday..Saturday that are not NERC holidays; everything else is off-peak. The fall-back
-- repeat hour (opr_hour 25) is off-peak. NERC holidays: New Year's Day, Memorial Day,
-- Independence Day, Labor Day, Thanksgiving, Christmas; one falling on a Sunday moves to the
-- Monday (one on a Saturday stays there).
-- index: node, opr_date  (the API asks by node and date range)
WITH d AS (
    SELECT
        market,
        node,
        opr_date,
        opr_hour,
        lmp,
        -- ISO day of week (1 = Monday … 7 = Sunday), counted from Monday 1900-01-01: portable
        -- (Spark has no EXTRACT(ISODOW), PostgreSQL no isodow()).
        (date_diff('day', DATE '1900-01-01', opr_date) % 7) + 1 AS dow,
        extract(month FROM opr_date) AS m,
        extract(day FROM opr_date) AS dd
    FROM lmp
    WHERE lmp IS NOT NULL
),
p AS (
    SELECT *, peak_day AND opr_hour BETWEEN 7 AND 22 AS on_peak
    FROM (
        SELECT
            *,
            (
                dow <= 6
                AND NOT (
                    (m = 1 AND (dd = 1 OR (dd = 2 AND dow = 1)))
                    OR (m = 5 AND dow = 1 AND dd >= 25)
                    OR (m = 7 AND (dd = 4 OR (dd = 5 AND dow = 1)))
                    OR (m = 9 AND dow = 1 AND dd <= 7)
                    OR (m = 11 AND dow = 4 AND dd BETWEEN 22 AND 28)
                    OR (m = 12 AND (dd = 25 OR (dd = 26 AND dow = 1)))
                )
            ) AS peak_day
        FROM d
    ) AS h
)
SELECT
    market,
    node,
    opr_date,
    avg(lmp) AS avg_lmp,
    min(lmp) AS min_lmp,
    max(lmp) AS max_lmp,
    count(*) AS n_intervals,
    avg(lmp) FILTER (WHERE on_peak) AS on_peak_avg_lmp,
    avg(lmp) FILTER (WHERE NOT on_peak) AS off_peak_avg_lmp,
    count(*) FILTER (WHERE on_peak) AS on_peak_intervals,
    count(*) FILTER (WHERE NOT on_peak) AS off_peak_intervals,
    bool_and(peak_day) AS peak_day
FROM p
GROUP BY market, node, opr_date
