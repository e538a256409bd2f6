from __future__ import annotations

import pytest

from animegen.fsutil import atomic_dir, atomic_write_json, atomic_write_text
from animegen.runs import MetricLogger, create_run_dir, newest_run_dir, read_metrics


def test_atomic_write_replaces_or_keeps(tmp_path):
    p = tmp_path / "x.txt"
    atomic_write_text(p, "one")
    with pytest.raises(RuntimeError):
        with __import__("animegen.fsutil", fromlist=["atomic_path"]).atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert p.read_text() == "one" and len(list(tmp_path.iterdir())) == 1
    atomic_write_json(p, {"a": 1})
    assert p.read_text().strip() == '{\n  "a": 1\n}'


def test_atomic_dir(tmp_path):
    final = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(final) as d:
            (d / "part").write_text("x")
            raise KeyboardInterrupt
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(final) as d:
        (d / "done").write_text("y")
    with atomic_dir(final, owned=lambda f: {"done"}) as d:  # replacing what an earlier run wrote
        (d / "new").write_text("z")
    assert [p.name for p in final.iterdir()] == ["new"]
    (final / "mine.txt").write_text("user")
    with atomic_dir(final, owned=lambda f: {"new"}) as d:  # a user's file is kept
        (d / "newer").write_text("w")
    assert sorted(p.name for p in final.iterdir()) == ["mine.txt", "newer"]


def test_run_dirs_and_metrics(tmp_path):
    a = create_run_dir(tmp_path, "vae faces")
    b = create_run_dir(tmp_path, "vae faces")
    assert (a.name, b.name) == ("vae-faces-1", "vae-faces-2")
    log = MetricLogger(a, tensorboard=False)
    log.log(1, {"loss": 1.5, "bad": float("nan")})
    log.log(2, {"loss": 1.0})
    log.close()
    with open(a / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 3, "lo')  # a torn line from a crash
    recs = read_metrics(a)
    assert [r["step"] for r in recs] == [1, 2] and recs[0]["bad"] == "nan"


def test_newest_run_dir_orders_by_number_not_by_name(tmp_path):
    assert newest_run_dir(tmp_path / "none", "gan") is None
    for _ in range(10):
        create_run_dir(tmp_path, "gan")
    create_run_dir(tmp_path, "gan-b")  # another name that starts alike: "gan-b-1"
    (tmp_path / "gan-11").write_text("a file, not a run")
    assert newest_run_dir(tmp_path, "gan").name == "gan-10"  # 10 after 9, though "gan-9" sorts last as text
    (tmp_path / "gan-3" / "final.safetensors").write_bytes(b"")
    assert newest_run_dir(tmp_path, "gan", holding="final.safetensors").name == "gan-3"
    assert newest_run_dir(tmp_path, "vae") is None


def test_written_files_get_umask_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "a").write_text("y")
        assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
        assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
    finally:
        os.umask(mask)
