"""AnnotationSession: the annotator's model without a view (edits, undo/redo, effort, autosave, replay)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from confmap import Annotation
from confmap.session import AnnotationSession, effort_path


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_the_session_needs_no_matplotlib():
    code = "import sys, confmap.session; print([m for m in ('matplotlib', 'ipywidgets') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_edits_undo_redo_and_the_effort_log():
    clock = FakeClock()
    s = AnnotationSession((40, 50), clock=clock, idle_cap_s=5.0)
    s.add_point(10, 10)
    clock.t = 2.0
    s.set_tier("medium")
    clock.t = 100.0  # a long pause counts 5 s
    s.add_point(20, 5)
    s.move_point("medium", 0, 21, 6)
    s.remove_point("high", 0)
    assert s.annotation.counts() == {"high": 0, "medium": 1, "low": 0, "sinks": 0}
    assert s.undo() and s.annotation.counts()["high"] == 1
    assert s.redo() and not s.redo()
    e = s.effort
    assert (e["added"], e["moved"], e["removed"], e["undos"], e["redos"], e["tier_switches"]) == (2, 1, 1, 1, 1, 1)
    assert e["active_s"] == pytest.approx(7.0)
    assert [ev[1] for ev in e["events"]] == ["add", "tier", "add", "move", "remove", "undo", "redo"]
    np.testing.assert_array_equal(s.annotation.medium, [[21.0, 6.0]])


def test_replay_rebuilds_the_same_annotation():
    s = AnnotationSession((40, 50))
    for x, y in [(5, 5), (30, 6), (20, 30)]:
        s.add_point(x, y, tier="high")
    s.set_tier("low")
    s.add_point(1, 1)
    s.clear_tier("low")
    s.replace_annotation(s.annotation.replace(sinks=[(10, 10)]))
    s.undo()
    s.remove_nearest(29, 6)
    t = AnnotationSession((40, 50))
    t.replay(json.loads(json.dumps(s.events)))  # events are plain JSON
    assert t.annotation == s.annotation and t.tier == s.tier
    with pytest.raises(ValueError, match="unknown event action"):
        t.replay([{"action": "paint"}])


def test_autosave_resume_and_checks(tmp_path):
    path = tmp_path / "case.json"
    seen = []
    s = AnnotationSession((40, 50), path=path, image_sha256="a" * 64)
    s.on_change(lambda sess: seen.append(sess.annotation.n_points))
    s.add_point(3, 4)
    assert Annotation.load(path).counts()["high"] == 1 and seen == [1]
    assert json.loads(effort_path(path).read_text())["added"] == 1
    again = AnnotationSession((40, 50), path=path, image_sha256="a" * 64)
    assert again.annotation == s.annotation and again.effort["sessions"] == 2
    with pytest.raises(ValueError, match="another image"):
        AnnotationSession((40, 50), path=path, image_sha256="b" * 64)
    with pytest.raises(ValueError, match="outside the image"):
        s.add_point(60, 4)
    with pytest.raises(ValueError, match=r"`index` must be in \[-1, 0\]"):
        s.remove_point("high", 3)
    with pytest.raises(ValueError, match="`path` is required"):
        AnnotationSession((4, 4)).save()
