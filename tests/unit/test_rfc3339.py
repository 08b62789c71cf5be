"""runsc_py.log.rfc3339 says what datetime says (it no longer imports datetime)."""

from __future__ import annotations

import datetime
import os
import random
import time

import pytest

from runsc_py.log import rfc3339


@pytest.fixture
def set_tz():
    old = os.environ.get("TZ")

    def set_tz(tz: str) -> None:
        os.environ["TZ"] = tz
        time.tzset()

    yield set_tz
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu",
                                "America/Los_Angeles", "Africa/Monrovia"])
def test_same_as_datetime(tz: str, set_tz) -> None:
    set_tz(tz)
    rnd = random.Random(tz)
    # Rounding to the microsecond at the edges (half to even, carry into the second), a
    # daylight-saving change and a historical offset with seconds (Monrovia before 1972).
    stamps = [0.0, 1.5, 86399.9999995, 1_711_846_799.9999996, 1_711_846_800.0000004,
              -63_000_000.25, 62_000_000.0000005]
    stamps += [rnd.uniform(-2e9, 4e9) for _ in range(3000)]
    for ts in stamps:
        want = datetime.datetime.fromtimestamp(ts).astimezone().isoformat(
            timespec="microseconds")
        assert rfc3339(ts) == want, ts
