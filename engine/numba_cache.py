"""Where numba caches compiled kernels: beside the sources when writable, else a private per-user folder."""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # engine/, gateway/, chain/ live here


def _private_dir(path: Path) -> bool:
    """path exists (made now if needed) as a directory of this user's that nobody else can write."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return False
    # the cache holds pickled code that numba loads: a folder others can write would let them run theirs
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022
            and os.access(path, os.W_OK | os.X_OK))


def _sources_writable() -> bool:
    for pkg in ("engine", "gateway", "chain"):
        d = PACKAGE_ROOT / pkg
        cache = d / "__pycache__"
        if d.is_dir() and not os.access(cache if cache.is_dir() else d, os.W_OK | os.X_OK):
            return False
    return True


def user_cache_dir() -> Path | None:
    """A private, writable folder of this user's for numba's cache, or None."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for path in (Path(base) / "kabuto" / "numba", Path(tempfile.gettempdir()) / f"kabuto-numba-{os.getuid()}"):
        if _private_dir(path):
            return path
    return None


def use_writable_cache() -> None:
    """Point numba at a per-user cache when the installed sources are read-only to this user (an
    install by another user): numba otherwise refuses every `cache=True` function."""
    if os.environ.get("NUMBA_CACHE_DIR") or _sources_writable():
        return
    path = user_cache_dir()
    if path is None:
        return  # numba then names the function it cannot cache
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba read its environment already
        config.CACHE_DIR = str(path)
