"""Meter export files: load profile (LP) and time of use (TOU, layouts A and B)."""
