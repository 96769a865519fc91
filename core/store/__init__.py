"""SQLite storage: the only package in Signal Lab that speaks SQL."""

from core.store.db import DB_FILENAME, RunInfo, Store, default_data_dir

__all__ = ["DB_FILENAME", "RunInfo", "Store", "default_data_dir"]
