"""flowsim.cache_guard: numba cache files are dropped exactly when a source changes."""
from pathlib import Path

import pytest

from flowsim import cache_guard


def make_package(root: Path):
    pkg = root / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    return pkg


def cache_files(dirs):
    return sorted(f.name for d in dirs if d.is_dir() for f in d.iterdir() if f.suffix in (".nbi", ".nbc"))


def plant(dirs):
    for i, d in enumerate(dirs):
        d.mkdir(parents=True, exist_ok=True)
        (d / f"k{i}.nbi").write_text("index")
        (d / f"k{i}.1.nbc").write_text("data")
        (d / f"k{i}.cpython-311.pyc").write_text("bytecode")


def test_unknown_provenance_then_unchanged_then_edited(tmp_path):
    pkg = make_package(tmp_path)
    dirs = cache_guard.cache_dirs(pkg, "")
    assert dirs == [pkg / "__pycache__", pkg / "sub" / "__pycache__"]
    plant(dirs)
    assert cache_guard.refresh(pkg, "") is True          # no marker: caches of unknown origin
    assert cache_files(dirs) == []
    assert (dirs[0] / "k0.cpython-311.pyc").exists()         # only numba's files are touched
    plant(dirs)
    assert cache_guard.refresh(pkg, "") is False         # same sources: cache kept
    assert len(cache_files(dirs)) == 4
    (pkg / "sub" / "b.py").write_text("y = 3\n")           # a callee's file is edited
    assert cache_guard.refresh(pkg, "") is True
    assert cache_files(dirs) == []


def test_numba_cache_dir_layout(tmp_path):
    pkg = make_package(tmp_path)
    root = tmp_path / "nc"
    dirs = cache_guard.cache_dirs(pkg, str(root))
    assert all(d.parent == root for d in dirs)
    assert dirs[1].name.startswith("sub_") and dirs[0].name.startswith("pkg_")
    plant(dirs)
    cache_guard.refresh(pkg, str(root))
    assert cache_files(dirs) == []
    assert cache_guard.refresh(pkg, str(root)) is False


def test_fingerprint_sees_content_and_names():
    pkg_dir = Path(cache_guard.__file__).parent
    assert cache_guard.fingerprint(pkg_dir) == cache_guard.fingerprint(pkg_dir)
    assert len(cache_guard.fingerprint(pkg_dir)) == 64


def test_rename_changes_the_fingerprint(tmp_path):
    pkg = make_package(tmp_path)
    before = cache_guard.fingerprint(pkg)
    (pkg / "a.py").rename(pkg / "c.py")
    assert cache_guard.fingerprint(pkg) != before


@pytest.mark.parametrize("numba_cache_dir", [False, True])
def test_edited_callee_in_another_file_is_recompiled(tmp_path, numba_cache_dir):
    """The case numba misses: kernel.f (cached) calls callee.g from another file; in
    __pycache__ and under NUMBA_CACHE_DIR (where the files must be where numba puts them)."""
    import subprocess
    import sys
    import textwrap

    pkg = tmp_path / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import pathlib
        from flowsim.cache_guard import refresh
        refresh(pathlib.Path(__file__).parent)
    """))
    (pkg / "callee.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef g(x):\n    return x + 1.0\n")
    (pkg / "kernel.py").write_text("from numba import njit\nfrom .callee import g\n\n"
                                   "@njit(cache=True)\ndef f(x):\n    return 2.0 * g(x)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_CACHE_DIR"}
    cache_root = tmp_path / "nc" if numba_cache_dir else None
    if cache_root is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_root)
    env["PYTHONPATH"] = str(tmp_path) + __import__("os").pathsep + env.get("PYTHONPATH", "")

    def run():
        out = subprocess.run([sys.executable, "-c", "from pkgx.kernel import f; print(f(1.0))"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        return float(out.stdout)

    assert run() == 4.0
    where = cache_guard.cache_dirs(pkg, "" if cache_root is None else str(cache_root))[0]
    assert any(f.suffix == ".nbi" for f in where.iterdir())
    (pkg / "callee.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef g(x):\n    return x + 2.0\n")
    assert run() == 6.0
