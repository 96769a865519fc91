"""Signal Lab: does a trading signal's confidence mean anything?

The engine package. It never imports Streamlit; pages and the CLI call it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("signal-lab")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
