"""Writing a file a user asked for: never over something by surprise, never half-written.

:func:`write_output` refuses to replace an existing file unless told to
(``overwrite=True``, the CLI's ``--force``), never follows or replaces a symbolic link,
never writes over a device, a pipe or a folder, and writes through a temporary file
in the same folder that is renamed into place (a reader sees the old file or the whole
new one). The new file gets the mode a normal new file gets (``0o666`` less the umask),
not the ``0o600`` of a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from core.errors import OutputError

__all__ = ["check_output_path", "new_file_mode", "write_output"]


def new_file_mode() -> int:
    """The permission bits a newly created file gets here (``0o666`` less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_output_path(path: str | Path, *, overwrite: bool, kind: str = "file") -> Path:
    """Refuse an output path that is a link, not a regular ``kind``, or exists without ``overwrite``.

    Parameters
    ----------
    path : str or Path
    overwrite : bool
        Whether an existing regular file (or folder, for ``kind="folder"``) may be replaced.
    kind : {"file", "folder"}

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        With the reason and what to do.
    """
    target = Path(path)
    if target.is_symlink():
        raise OutputError(
            f"{target} is a symbolic link; Signal Lab does not write through links - "
            "choose another output path"
        )
    if not target.exists():
        return target
    mode = target.stat().st_mode
    regular = stat.S_ISDIR(mode) if kind == "folder" else stat.S_ISREG(mode)
    if not regular:
        raise OutputError(
            f"{target} exists and is not a regular {kind}; choose another output path"
        )
    if not overwrite:
        raise OutputError(f"{target} already exists; pass --force to replace it")
    return target


def write_output(path: str | Path, data: str | bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically, with the checks of :func:`check_output_path`.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder is created when missing.
    data : str or bytes
        Text is written as UTF-8.
    overwrite : bool, default False
        Replace an existing regular file.

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        The path is refused (see :func:`check_output_path`) or cannot be written.
    """
    target = check_output_path(path, overwrite=overwrite)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write {target}: {exc.strerror}; choose a writable output folder"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, new_file_mode())
        check_output_path(target, overwrite=overwrite)  # nothing swapped in meanwhile
        os.replace(tmp, target)
    except (OSError, OutputError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    return target
