"""Crash-safe files: atomic writes and append-only CSV logs that survive SIGKILL.

* :func:`atomic_write_text` / :func:`atomic_torch_save`: write a temp file in the same
  folder, fsync, ``os.replace`` -- a reader sees the old file or the new one, never half.
  :func:`atomic_torch_save_soon`: the same from a background thread, of a copy taken at the call.
* :class:`CsvLog`: rows buffered in memory and appended every ``flush_every`` rows. A kill
  mid-append can leave a torn last line; :meth:`CsvLog.read_rows` drops it, and
  :meth:`CsvLog.truncate_after` rewrites the file atomically when a run resumes.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
"""Mode of an ordinary new file (mkstemp makes 0600; run folders are shared, read-only artefacts)."""


def _atomic_replace(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically."""
    _atomic_replace(Path(path), lambda fh: fh.write(text.encode()))


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically."""
    _atomic_replace(Path(path), lambda fh: torch.save(obj, fh))


_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
"""One thread per process writes what :func:`atomic_torch_save_soon` is given, in the order given (its
pending writes finish before the interpreter exits)."""


def detached_copy(obj: Any) -> Any:
    """``obj`` (nested dicts, lists, tuples) with every tensor replaced by a CPU copy of its values now, so
    that later in-place changes of the original (an optimiser step) cannot reach what is written."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: detached_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(detached_copy(v) for v in obj)
    return obj


def atomic_torch_save_soon(obj: Any, path: str | Path) -> Future[None]:
    """:func:`atomic_torch_save` of ``obj`` as it is now (:func:`detached_copy`), written by a background
    thread while the caller goes on; the future holds the write's error, if any. A kill during the write
    leaves the previous file whole, as with :func:`atomic_torch_save`."""
    return _WRITER.submit(atomic_torch_save, detached_copy(obj), path)


def _parse(value: str) -> Any:
    """CSV cell -> int, float or str (floats were written with ``repr``, so they round-trip)."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


class CsvLog:
    """Buffered, append-only CSV with a fixed header (pandas reads it with ``pd.read_csv``)."""

    def __init__(self, path: str | Path, columns: list[str], flush_every: int = 25) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.flush_every = flush_every
        self._buffer: list[dict[str, Any]] = []

    def append(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        new = not self.path.exists() or self.path.stat().st_size == 0
        out = io.StringIO()
        writer = csv.DictWriter(out, self.columns, extrasaction="raise", lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()} for r in self._buffer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(out.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        self._buffer.clear()

    def read_rows(self) -> list[dict[str, Any]]:
        """Flushed rows; a torn last line (killed mid-write) is dropped."""
        if not self.path.exists():
            return []
        text = self.path.read_text()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]
        reader = csv.DictReader(lines)
        return [
            {k: _parse(v) for k, v in row.items()}
            for row in reader
            if None not in row and None not in row.values()
        ]

    def truncate_after(self, step: int, key: str = "step") -> None:
        """Keep rows with ``row[key] <= step`` (resume from a checkpoint at ``step``)."""
        self._buffer = [r for r in self._buffer if r[key] <= step]
        rows = [r for r in self.read_rows() if r[key] <= step]
        out = io.StringIO()
        writer = csv.DictWriter(out, self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
        atomic_write_text(self.path, out.getvalue())


def read_metrics(path: Path) -> pd.DataFrame:
    """``metrics.csv`` as numbers; an unterminated last line (being written, or torn by a kill)
    and rows without a step or loss are dropped; empty frame if absent or unreadable."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return pd.DataFrame()
    if text and not text.endswith("\n"):  # a line being written (or torn by a kill): drop it
        text = text[: text.rfind("\n") + 1]
    try:
        df = pd.read_csv(io.StringIO(text), on_bad_lines="skip")
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()
    if "step" not in df.columns:
        return pd.DataFrame()
    df = df.apply(pd.to_numeric, errors="coerce")
    keep = df["step"].notna() & (df["loss"].notna() if "loss" in df.columns else True)
    df = df[keep].sort_values("step", kind="stable")
    return df.drop_duplicates("step", keep="last").reset_index(drop=True)
