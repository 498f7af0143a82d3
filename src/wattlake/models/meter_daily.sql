-- Daily statistics per meter, serial, plant, local day, data type and unit.
-- index: meter_code, local_date  (the API asks by meter and day range)
SELECT
    meter_code,
    serial,
    plant_code,
    local_date,
    data_type,
    units,
    min(value) AS min_value,
    max(value) AS max_value,
    avg(value) AS avg_value,
    count(*) AS n_readings
FROM meter_reads
WHERE value IS NOT NULL
GROUP BY meter_code, serial, plant_code, local_date, data_type, units
