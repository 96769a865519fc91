"""Reports of a run: JSON (machine-readable), CSV tables and a self-contained HTML page.

Reports live in ``<data_dir>/../reports`` (``artifacts/reports`` with the
default data directory ``artifacts/learning_engine``), one file per run named
after its id.
"""
