-- feeder_summary (gold): every feeder with its installed and planned DER, by standard DER type.
--
-- Reads silver `feeders` and `ders` (wattlake.sources.hosting_capacity.schema).
-- One row per (feeder_uid, der_type). A feeder without any DER gets a single row with
-- der_type NULL and zero counts. Feeders that only appear as a DER location (no hosting-capacity
-- row, e.g. a utility whose circuits file is missing) are included with has_hosting_capacity =
-- FALSE, so every DER with a feeder is counted somewhere.
--
-- Counts are distinct projects (native_id), so a utility1 project whose two technologies map to
-- the same der_type counts once; kW sums the rows' nameplate_kw (each technology's own kW for
-- unpivoted rows, never the repeated project total). Units: kW for DER, MW / kV for the feeder.
-- Written in DuckDB's dialect; transpiles with sqlglot to PostgreSQL unchanged in meaning.
-- index: feeder_uid  (the API asks by feeder)
WITH der_by_type AS (
    SELECT
        feeder_uid,
        der_type,
        COUNT(DISTINCT CASE WHEN status = 'installed' THEN native_id END) AS installed_count,
        COALESCE(SUM(CASE WHEN status = 'installed' THEN nameplate_kw END), 0) AS installed_kw,
        COUNT(DISTINCT CASE WHEN status = 'planned' THEN native_id END) AS planned_count,
        COALESCE(SUM(CASE WHEN status = 'planned' THEN nameplate_kw END), 0) AS planned_kw
    FROM ders
    WHERE feeder_uid IS NOT NULL
    GROUP BY feeder_uid, der_type
),

all_feeders AS (
    SELECT feeder_uid, utility, native_feeder_id
    FROM feeders
    UNION
    SELECT DISTINCT feeder_uid, utility, native_feeder_id
    FROM ders
    WHERE feeder_uid IS NOT NULL
)

SELECT
    a.feeder_uid,
    a.utility,
    a.native_feeder_id,
    f.feeder_uid IS NOT NULL AS has_hosting_capacity,
    f.substation,
    f.voltage_kv,
    f.max_hc_mw,
    f.min_hc_mw,
    f.hca_refresh_date,
    d.der_type,
    COALESCE(d.installed_count, 0) AS installed_count,
    COALESCE(d.installed_kw, 0) AS installed_kw,
    COALESCE(d.planned_count, 0) AS planned_count,
    COALESCE(d.planned_kw, 0) AS planned_kw
FROM all_feeders AS a
LEFT JOIN feeders AS f ON f.feeder_uid = a.feeder_uid
LEFT JOIN der_by_type AS d ON d.feeder_uid = a.feeder_uid
