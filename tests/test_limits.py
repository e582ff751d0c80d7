"""Every limit is validated: a positive finite number (capped at a configurable maximum),
or a ValueError that names the field (never a TypeError, a hang or a pinned CPU)."""

import math
import time

import pytest

from rewards import RewardConfig, TestSpec, compile_feedback, run_tests
from rewards.execution import Limits, maximums, sandbox

BAD_NUMBERS = [-5, 0, "abc", float("nan"), math.inf, -math.inf, True, None, [1]]
IO = TestSpec.from_io(["1\n"], ["1\n"])
ECHO = "print(input())\n"


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_bad_timeouts_name_the_field(value):
    with pytest.raises(ValueError, match="timeout_s"):
        compile_feedback("python", ["x = 1"], timeout_s=value)
    with pytest.raises(ValueError, match="timeout_s"):
        run_tests("python", [ECHO], [IO], timeout_s=value)
    with pytest.raises(ValueError, match="timeout_s"):
        RewardConfig(timeout_s=value)
    if value is not None:  # None means "the call's timeout" in a TestSpec
        with pytest.raises(ValueError, match="TestSpec.timeout_s"):
            TestSpec.from_io(["1\n"], ["1\n"], timeout_s=value)


@pytest.mark.parametrize("field,value", [("memory_mb", 8), ("memory_mb", 100.5), ("memory_mb", "1G"),
                                         ("memory_mb", math.nan), ("output_bytes", 0), ("output_bytes", -1),
                                         ("output_bytes", 1.5), ("workers", -1), ("workers", 2.5),
                                         ("workers", "2")])
def test_bad_run_limits_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        run_tests("python", [ECHO], [IO], **{field: value})


def test_java_needs_room_for_the_jvm():
    with pytest.raises(ValueError, match="at least 256 MB for java"):
        run_tests("java", ["class A {}"], [IO], memory_mb=128)


@pytest.mark.parametrize("field", ["wall_s", "cpu_s", "address_space_mb", "file_size_mb", "open_files",
                                   "processes", "output_bytes", "tmpfs_mb"])
def test_sandbox_limits_are_validated(field):
    for value in (-1, 0, float("nan"), "1", True):
        with pytest.raises(ValueError, match=f"Limits.{field}"):
            Limits(**{field: value})
    assert getattr(Limits(**{field: 10**12}), field) < 10**12  # capped


def test_values_above_the_maximum_are_capped(monkeypatch):
    assert RewardConfig(timeout_s=1e6).timeout_s == 60.0  # the default maximum
    assert TestSpec.from_io(["1\n"], ["1\n"], timeout_s=1e6).timeout_s == 60.0
    assert Limits(wall_s=1e6).wall_s == 60.0 + 120  # plus start-up slack
    assert Limits(wall_s=None, cpu_s=None).wall_s is None  # persistent workers: no limit
    monkeypatch.setenv("PPOCODER_MAX_TIMEOUT_S", "5")
    assert maximums().timeout_s == 5.0
    assert RewardConfig(timeout_s=6).timeout_s == 5.0
    assert RewardConfig().timeout_s == 5.0  # a default above the maximum is capped too
    monkeypatch.setenv("PPOCODER_MAX_TIMEOUT_S", "lots")
    with pytest.raises(ValueError, match="PPOCODER_MAX_TIMEOUT_S must be a number"):
        maximums()
    monkeypatch.setenv("PPOCODER_MAX_TIMEOUT_S", "-1")
    with pytest.raises(ValueError, match="PPOCODER_MAX_TIMEOUT_S must be a positive"):
        maximums()


def test_a_capped_timeout_really_stops_the_run(monkeypatch):
    """A caller asking for 1e6 s gets the maximum; the program is stopped there."""
    monkeypatch.setenv("PPOCODER_MAX_TIMEOUT_S", "2")
    start = time.monotonic()
    res = run_tests("python", ["while True:\n    pass\n"], [IO], timeout_s=1e6)[0]
    assert res.outcome == "timeout" and time.monotonic() - start < 30


def test_a_long_stdio_spec_stops_at_the_maximum(monkeypatch):
    """Many slow cases cannot add up past the maximum run time."""
    monkeypatch.setenv("PPOCODER_MAX_TIMEOUT_S", "3")
    slow = "import time\ntime.sleep(0.4)\nprint(input())\n"
    spec = TestSpec.from_io(["1\n"] * 40, ["1\n"] * 40, timeout_s=2)
    res = run_tests("python", [slow], [spec])[0]
    assert res.outcome == "timeout" and res.passed < 40


def test_the_sandbox_enforces_what_it_validated():
    res = sandbox.run(["sh", "-c", "sleep 5"], limits=Limits(wall_s=0.5))
    assert res.timed_out
