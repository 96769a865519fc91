"""SQLite storage: the only package in Signal Lab that speaks SQL."""

from core.store.db import (
    DB_FILENAME,
    MAX_SIGNAL_NAME,
    EventFilter,
    RunInfo,
    Store,
    check_signal_name,
    default_data_dir,
)

__all__ = [
    "DB_FILENAME",
    "MAX_SIGNAL_NAME",
    "EventFilter",
    "RunInfo",
    "Store",
    "check_signal_name",
    "default_data_dir",
]
