"""SQLite storage: the only package in Signal Lab that speaks SQL."""

from core.store.db import DB_FILENAME, EventFilter, RunInfo, Store, default_data_dir

__all__ = ["DB_FILENAME", "EventFilter", "RunInfo", "Store", "default_data_dir"]
