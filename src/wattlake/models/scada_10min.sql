-- 10-minute statistics per turbine and signal, in the source's units.
-- Bins are left-closed [start, start + 10 min), aligned on UTC (so on local 10-minute marks in
-- any zone whose offset is a whole number of 10 minutes) and labelled by their start.
-- std is the sample standard deviation (ddof = 1): null for a bin with fewer than 2 samples.
-- count is the number of non-null samples: missing minutes lower it.
-- Written once for both engines: epoch arithmetic instead of time_bucket / date_bin.
-- index: turbine, bucket_start_utc  (the API asks by turbine and time range)
SELECT
    turbine,
    signal,
    to_timestamp(floor(epoch(ts_utc) / 600) * 600) AS bucket_start_utc,
    avg(value) AS mean,
    min(value) AS min,
    max(value) AS max,
    stddev_samp(value) AS std,
    count(value) AS count
FROM scada_samples
WHERE value IS NOT NULL
GROUP BY turbine, signal, to_timestamp(floor(epoch(ts_utc) / 600) * 600)
