"""confmap._validation: the atomic writers."""

import os
import stat

import pytest

from confmap._validation import atomic_write, atomic_write_bytes


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_write_gives_the_permissions_of_a_plain_write(tmp_path, umask):
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.bin"
        plain.write_bytes(b"x")
        out = atomic_write_bytes(tmp_path / "atomic.bin", b"x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(out).st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode) == 0o666 & ~umask


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = atomic_write_bytes(tmp_path / "a.json", b"old")

    def fail(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
