"""On-disk cache for trained reward models (atomic writes, content-addressed keys).

Location: ``$GFN_CACHE_DIR`` if set, else ``<repo>/outputs/cache`` where
``<repo>`` is the checkout holding this package. A cache entry's key hashes
the training data bytes, the source code of the modules that define the model
(so editing the code invalidates it) and the hyperparameters; a missing entry
is rebuilt by the caller.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import tempfile
from pathlib import Path
from types import ModuleType
from collections.abc import Callable, Iterator
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout holding ``gfn_lib`` (``gfn_lib/rewards/cache.py`` -> ``../../..``)."""


def cache_dir() -> Path:
    """The cache root, created on demand (``$GFN_CACHE_DIR`` or ``<repo>/outputs/cache``)."""
    root = Path(os.environ.get("GFN_CACHE_DIR") or REPO_ROOT / "outputs" / "cache")
    root.mkdir(parents=True, exist_ok=True)
    return root


def code_version(*modules: ModuleType) -> str:
    """sha256 (16 hex) of the source text of ``modules``: the 'code version' part of a key."""
    h = hashlib.sha256()
    for mod in modules:
        h.update(inspect.getsource(mod).encode())
    return h.hexdigest()[:16]


def cache_key(kind: str, **parts: Any) -> str:
    """``<kind>-<sha256 of the JSON of parts>`` (parts must be JSON-serialisable)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return f"{kind}-{hashlib.sha256(blob).hexdigest()[:20]}"


def load_entry(key: str) -> dict[str, Any] | None:
    """The stored object for ``key``, or ``None`` when missing or unreadable."""
    path = cache_dir() / f"{key}.pt"
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a truncated or foreign file: rebuild it
        return None


def save_entry(key: str, obj: dict[str, Any]) -> Path:
    """Write ``obj`` under ``key`` atomically (temp file in the same dir + ``os.replace``)."""
    root = cache_dir()
    path = root / f"{key}.pt"
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cache entries are shared read-only artefacts
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def locked(key: str) -> Iterator[None]:
    """Exclusive cross-process lock for building ``key`` (parallel runs on a cold cache train once)."""
    with open(cache_dir() / f".{key}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_or_build_model(
    key: str, make: Callable[[], torch.nn.Module], train: Callable[[], tuple[torch.nn.Module, dict[str, Any]]],
    config: dict[str, Any],
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The cached model under ``key`` (``make()`` + stored weights), or ``train()`` it under the
    lock and store it. Returns ``(model in eval mode, metrics with "cache": hit|miss and the key)``."""

    def cached() -> tuple[torch.nn.Module, dict[str, Any]] | None:
        entry = load_entry(key)
        if entry is None:
            return None
        model = make()
        model.load_state_dict(entry["state_dict"])
        return model.eval(), {**entry["metrics"], "cache": "hit", "cache_key": key}

    hit = cached()
    if hit is not None:
        return hit
    with locked(key):
        hit = cached()  # another process may have built it while we waited for the lock
        if hit is not None:
            return hit
        model, metrics = train()
        save_entry(key, {"state_dict": model.state_dict(), "metrics": metrics, "config": config})
        return model.eval(), {**metrics, "cache": "miss", "cache_key": key}
