"""Serving the dashboard to a team: where its stores are, and per-session upload space.

A served dashboard must not let a browser user choose paths on the server. The data
directory is therefore fixed when the server starts (:func:`server_settings`), from, in
this order: the app's command line (``streamlit run app.py -- --data-dir DIR``), the
``[signal_lab]`` table of ``.streamlit/secrets.toml`` (``data_dir``, ``allowed_roots``),
and ``$SIGNAL_LAB_DATA_DIR`` / ``$SIGNAL_LAB_ALLOWED_ROOTS``; else
``artifacts/learning_engine``. With allowed roots, a user may pick among the stores that
already exist directly in those roots or one level below (:func:`available_stores`), by
name from a list, never by typing a path.

Uploads (:class:`UploadSpace`) go to a private temporary folder per browser session, with
unique file names; a file is deleted after its import, and the folder when the session
ends (its :class:`UploadSpace` is garbage-collected) or at :meth:`UploadSpace.close`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.store import DB_FILENAME, default_data_dir

__all__ = ["ServerSettings", "UploadSpace", "available_stores", "server_settings", "store_exists"]


@dataclass(frozen=True)
class ServerSettings:
    """Where a served dashboard keeps its data, fixed at start-up.

    Attributes
    ----------
    data_dir : Path
        The default store's folder (absolute).
    allowed_roots : tuple of Path
        Folders whose existing stores a user may pick from (absolute); empty: only
        ``data_dir``.
    source : str
        Where ``data_dir`` came from, for the sidebar ("command line", "secrets",
        "environment", "default").
    """

    data_dir: Path
    allowed_roots: tuple[Path, ...] = ()
    source: str = "default"


def _roots(value: Any, *, origin: str) -> tuple[Path, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = [v for v in value.split(os.pathsep) if v.strip()]
    elif isinstance(value, Sequence):
        items = [str(v) for v in value]
    else:
        raise ConfigError(
            f"allowed_roots from {origin} must be a list of folders or a "
            f"'{os.pathsep}'-separated string, got {value!r}"
        )
    return tuple(Path(v).expanduser().resolve() for v in items)


def server_settings(
    argv: Sequence[str] = (),
    *,
    secrets: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerSettings:
    """The data directory and allowed roots of this server, from its start-up configuration.

    Parameters
    ----------
    argv : sequence of str
        The app's own arguments (what follows ``--`` in ``streamlit run app.py -- ...``):
        ``--data-dir DIR`` and ``--allowed-root DIR`` (repeatable); other arguments are
        left to whoever runs the script (a test runner, say).
    secrets : mapping, optional
        The ``[signal_lab]`` table of Streamlit's secrets (``data_dir``, ``allowed_roots``).
    environ : mapping, optional
        Environment (default ``os.environ``): ``SIGNAL_LAB_DATA_DIR``,
        ``SIGNAL_LAB_ALLOWED_ROOTS`` (``os.pathsep``-separated).

    Returns
    -------
    ServerSettings

    Raises
    ------
    ConfigError
        A malformed argument, or allowed roots that are not a list of folders.
    """
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="app.py", add_help=False, exit_on_error=False)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--allowed-root", action="append", default=[])
    try:
        args, _ = parser.parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise ConfigError(f"dashboard arguments: {exc}; use -- --data-dir DIR") from None
    table = dict(secrets or {})
    if args.data_dir:
        data_dir, source = args.data_dir, "command line"
    elif table.get("data_dir"):
        data_dir, source = str(table["data_dir"]), "secrets"
    elif env.get("SIGNAL_LAB_DATA_DIR"):
        data_dir, source = env["SIGNAL_LAB_DATA_DIR"], "environment"
    else:
        data_dir, source = str(default_data_dir()), "default"
    roots = (
        _roots(args.allowed_root, origin="--allowed-root")
        or _roots(table.get("allowed_roots"), origin="secrets")
        or _roots(env.get("SIGNAL_LAB_ALLOWED_ROOTS"), origin="SIGNAL_LAB_ALLOWED_ROOTS")
    )
    return ServerSettings(Path(data_dir).expanduser().resolve(), roots, source)


def store_exists(data_dir: str | Path) -> bool:
    """Whether ``data_dir`` holds a Signal Lab store file."""
    return (Path(data_dir) / DB_FILENAME).is_file()


def available_stores(settings: ServerSettings) -> dict[str, Path]:
    """Stores a user may pick: label -> folder; the default store first.

    The default ``data_dir`` is always offered (it may not exist yet); below each
    allowed root, the root itself and its direct subfolders that hold a store file.
    Links are resolved and must stay inside their root.
    """
    out: dict[str, Path] = {f"default ({settings.data_dir.name})": settings.data_dir}
    for root in settings.allowed_roots:
        if not root.is_dir():
            continue
        candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
        for folder in candidates:
            real = folder.resolve()
            if real != root and root not in real.parents:
                continue  # a link that leads out of the allowed root
            if store_exists(real) and real not in out.values():
                label = f"{root.name}/{real.relative_to(root)}" if real != root else root.name
                out[label] = real
    return out


# --------------------------------------------------------------------------- uploads

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class UploadSpace:
    """A private temporary folder for one browser session's uploads.

    Each :meth:`save` writes a new file with a unique name (two uploads named
    ``signals.csv`` never share a file, in one session or across sessions). The
    folder is removed by :meth:`close`, or when the object is garbage-collected
    (Streamlit drops a session's state when the session ends).
    """

    def __init__(self, *, prefix: str = "signal-lab-upload-") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def save(self, name: str, content: bytes) -> Path:
        """Write ``content`` to a new file whose name keeps ``name``'s (sanitised) stem and suffix."""
        if not self._finalizer.alive:
            raise ConfigError("this upload space was closed; open a new UploadSpace")
        safe = _SAFE_NAME.sub("_", Path(str(name)).name).strip("._") or "upload.csv"
        stem, suffix = Path(safe).stem[:64], Path(safe).suffix[:16]
        fd, tmp = tempfile.mkstemp(prefix=f"{stem}-", suffix=suffix, dir=self.path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        return Path(tmp)

    def discard(self, path: str | Path) -> None:
        """Delete one saved file (only files inside this space)."""
        target = Path(path)
        if target.parent == self.path and target.is_file():
            target.unlink()

    def files(self) -> list[Path]:
        """Files currently saved in this space."""
        return sorted(self.path.iterdir()) if self.path.is_dir() else []

    def close(self) -> None:
        """Remove the folder and everything in it (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive
