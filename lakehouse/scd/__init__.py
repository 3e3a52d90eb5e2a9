"""Slowly changing dimensions: one reusable SCD type 2 merge (:mod:`.scd2`) and SCD type 1 from snapshots (:mod:`.scd1`)."""
