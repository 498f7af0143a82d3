"""The Spark session wattlake uses (one per process, UTC, no UI) and Arrow -> Spark types."""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import parse_qs

import pyarrow as pa

from wattlake.errors import ConfigError


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """``spark+local[2]?lake=…`` -> (``local[2]``, {"lake": …}); ``spark://h:7077`` stays."""
    base, _, query = url.partition("?")
    opts = {k: v[-1] for k, v in parse_qs(query).items()}
    master = base.removeprefix("spark+") if base.startswith("spark+") else base
    if not master:
        raise ConfigError(f"bad Spark URL {url!r}", hint="use spark+local[2] or spark://host:7077")
    return master, opts


def spark_session(master: str, app: str = "wattlake") -> Any:
    """The process's Spark session (created once, reused), in UTC, without the UI."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run our parsers
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            "the Spark engine needs pyspark", hint="install the `spark` extra (and Java 17+)"
        ) from exc
    spark = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.shuffle.partitions", os.environ.get("WATTLAKE_SPARK_SHUFFLE", "8"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_type(t: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return T.StringType()
    if pa.types.is_float64(t):
        return T.DoubleType()
    if pa.types.is_float32(t):
        return T.FloatType()
    if pa.types.is_int64(t):
        return T.LongType()
    if pa.types.is_integer(t):
        return T.IntegerType()
    if pa.types.is_boolean(t):
        return T.BooleanType()
    if pa.types.is_date32(t):
        return T.DateType()
    if pa.types.is_timestamp(t):
        return T.TimestampType() if t.tz else T.TimestampNTZType()
    if pa.types.is_decimal(t):
        return T.DecimalType(t.precision, t.scale)
    raise TypeError(f"no Spark type for Arrow type {t}")


def spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in schema])
