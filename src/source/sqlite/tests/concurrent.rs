//! Snapshots taken while a separate writer process commits.
