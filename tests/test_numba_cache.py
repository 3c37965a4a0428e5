"""`kabuto` runs for a user who cannot write where it was installed: numba caches in a private folder."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

KABUTO = os.path.join(os.path.dirname(sys.executable), "kabuto")
NOBODY = 65534


def as_nobody(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *args],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def base():
    """A folder the other user can reach (pytest's own tmp_path is root's alone)."""
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    path = Path(tempfile.mkdtemp(prefix="kabuto-nobody-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def nobody_env(base):
    home = base / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(HOME=str(home), XDG_CACHE_HOME="")
    return env, home


def test_another_user_runs_kabuto_with_a_cache_in_their_home(nobody_env):
    env, home = nobody_env
    out = as_nobody([KABUTO, "--help"], env)
    assert out.returncode == 0, out.stderr
    assert "replay" in out.stdout
    cache = home / ".cache" / "kabuto" / "numba"
    st = cache.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o700)


@pytest.fixture
def homeless(nobody_env, base):
    """The other user's environment without a home, and the shared temp folder (sticky, like /tmp) it gets."""
    env, _ = nobody_env
    tmp = base / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    env.update(HOME="/nonexistent", TMPDIR=str(tmp))
    return env, tmp


def test_a_user_without_a_home_gets_a_private_folder_in_the_temp_dir(homeless):
    env, tmp = homeless
    out = as_nobody([KABUTO, "--help"], env)
    assert out.returncode == 0, out.stderr
    st = (tmp / f"kabuto-numba-{NOBODY}").stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o700)


def test_a_cache_folder_another_user_planted_is_not_used(homeless):
    env, tmp = homeless
    planted = tmp / f"kabuto-numba-{NOBODY}"
    planted.mkdir()  # root's, and writable by anyone: it could hold someone's pickled code
    planted.chmod(0o777)
    out = as_nobody([sys.executable, "-c", "import kabuto.engine, os; print(os.environ.get('NUMBA_CACHE_DIR'))"], env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"
