"""Reports of a run: JSON (machine-readable), CSV tables and a self-contained HTML page.

Reports live in ``<data_dir>/reports`` (``artifacts/learning_engine/reports`` with
the default data directory), one file per run named after its id; nothing is
written outside the data directory.
"""
