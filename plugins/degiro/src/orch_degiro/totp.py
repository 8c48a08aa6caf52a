"""One-time codes for DEGIRO's 2FA login, never the same code twice.

DEGIRO refuses a one-time code that was already used [T] (a second login in the same 30 s step fails, and
failed logins lock accounts), so when this run already spent the current step's code, the next login waits
for the next step.
Time is the wall clock as seen through trio's clock: ``wall at the start of the run + trio time elapsed``.
With the real clock that is the wall clock; under ``trio.testing.MockClock`` it moves with the mocked
sleeps, so the simulator (which uses the same function) and the plugin agree without waiting for real.
"""

from __future__ import annotations

import hashlib
import time

import trio

STEP = 30
_origin: trio.lowlevel.RunVar[tuple[float, float]] = trio.lowlevel.RunVar("orch_degiro_totp_origin")
# Per trio run, like the origin: one orch command or shell is one run, and a mocked clock's steps must not
# leak into the next run.
_used: trio.lowlevel.RunVar[dict[str, int]] = trio.lowlevel.RunVar("orch_degiro_totp_used")


def now() -> float:
    """Epoch seconds: the wall clock, advanced by trio's clock within a run."""
    try:
        wall0, trio0 = _origin.get()
    except LookupError:
        wall0, trio0 = time.time(), trio.current_time()
        _origin.set((wall0, trio0))
    except RuntimeError:  # outside trio
        return time.time()
    return wall0 + (trio.current_time() - trio0)


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def fresh_code(secret: str, *, last_step: int = -1) -> tuple[str, int]:
    """(code, its step) for ``secret``: the current step's code unless that step was already used in this
    run or is not after ``last_step`` (what an earlier process recorded); then the next step's, after
    waiting for it."""
    import pyotp

    totp = pyotp.TOTP(secret)
    key = _key(secret)
    try:
        used = _used.get()
    except LookupError:
        used = {}
        _used.set(used)
    while True:
        moment = now()
        step = int(moment // STEP)
        if step > max(used.get(key, -1), last_step):
            used[key] = step
            return totp.at(moment), step
        if step + 1 < max(used.get(key, -1), last_step):
            # A recorded step far ahead of this clock (a mocked clock of another run): do not wait for it.
            used[key] = step
            return totp.at(moment), step
        await trio.sleep((step + 1) * STEP - moment + 0.5)
