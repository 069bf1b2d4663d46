"""confmap._validation: the atomic writers."""

import os
import stat

import pytest

from confmap._validation import atomic_write, atomic_write_bytes


def test_atomic_write_gives_the_permissions_of_a_plain_write(tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    out = atomic_write_bytes(tmp_path / "atomic.bin", b"x")
    mode = stat.S_IMODE(os.stat(out).st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode)
    assert mode & stat.S_IRGRP  # not the temporary file's private 0o600 (umask 022 here)


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
