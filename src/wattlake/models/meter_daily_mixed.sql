-- The seed's aggregate, kept for /get-data: every value of a meter-day together, whatever its
-- data type and unit (interval values and TOU billing-register energies alike).
-- `id` is deterministic (ordered by meter, serial, plant, day), unlike the seed's.
-- index: meter_code, serial_code, local_date  (/get-data asks by meter, serial and day)
WITH v AS (
    SELECT meter_code, serial, plant_code, local_date, value FROM meter_reads
    UNION ALL
    SELECT meter_code, serial, plant_code, local_date, energy AS value FROM meter_registers
)
SELECT
    row_number() OVER (ORDER BY meter_code, serial, plant_code, local_date) AS id,
    meter_code,
    serial AS serial_code,
    plant_code,
    local_date,
    max(value) AS max_energy,
    min(value) AS min_energy,
    avg(value) AS avg_energy,
    count(value) AS n_values
FROM v
GROUP BY meter_code, serial, plant_code, local_date
