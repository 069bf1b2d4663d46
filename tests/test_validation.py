"""confmap._validation: the atomic writers and the shared checks."""

import os
import stat
from collections.abc import Callable

import pytest

from confmap._validation import atomic_write, atomic_write_bytes, check_keys, check_number, check_type


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


def test_check_type_returns_the_value_or_names_what_was_expected():
    assert check_type("x", None, (int, type(None)), "an int or None") is None
    with pytest.raises(TypeError, match=r"`x` must be callable, got 3"):
        check_type("x", 3, Callable, "callable")


def test_check_keys_names_the_unknown_keys_and_the_allowed_ones():
    check_keys("field(s)", {"a": 1}, ("a", "b"))
    with pytest.raises(TypeError, match=r"^unknown field\(s\) \['c', 'd'\] in f; allowed are \['a', 'b'\]$"):
        check_keys("field(s)", ["d", "a", "c"], ("a", "b"), where=" in f", error=TypeError)


def test_check_number_strict_bounds():
    assert check_number("level", 0.5, minimum=0.0, maximum=1.0, strict_min=True, strict_max=True) == 0.5
    with pytest.raises(ValueError, match="`level` must be < 1.0, got 1.0"):
        check_number("level", 1, minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    assert check_number("level", 1, maximum=1.0) == 1.0
