"""Local stand-ins for remote data sources, for tests and demos."""
