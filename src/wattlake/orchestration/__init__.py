"""Dagster definitions generated from the pipeline registry (extra ``dagster``).

``plan`` needs no Dagster; ``definitions`` imports it (about 1.8 s), so neither the CLI nor the
API imports this package at start-up."""
