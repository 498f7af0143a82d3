"""Gold models: one ``<name>.sql`` file each, a single SELECT in DuckDB's dialect."""
