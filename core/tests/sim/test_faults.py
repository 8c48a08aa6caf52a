"""Fault plans: deterministic decisions, bursts, probabilities, path filters, stream faults, counters."""

import pytest

from orch.sim import Faults, StreamState
from orch.sim.faults import current_exchange


def test_a_fresh_plan_injects_nothing():
    faults = Faults()
    decision = faults.before_request("POST", "/v2/orders")
    assert (decision.delay, decision.status) == (0.0, None)
    assert faults.after_order_accepted() is False
    assert faults.stream_message(StreamState()) == "send"
    assert faults.counters["requests"] == 1 and faults.counters["http_5xx"] == 0


def test_bursts_hit_exactly_the_next_requests():
    faults = Faults()
    faults.set(rate_limit_burst=2, retry_after=3)
    statuses = [faults.before_request("GET", "/x") for _ in range(4)]
    assert [d.status for d in statuses] == [429, 429, None, None]
    assert statuses[0].retry_after == 3 and statuses[0].kind == "429"
    faults.set(error_burst=1, error_status=502)
    assert faults.before_request().status == 502
    assert faults.before_request().status is None
    faults.set(rate_limit_burst=1, rate_limit_status=418)
    assert faults.before_request().kind == "418"
    assert (faults.counters["http_429"], faults.counters["http_5xx"], faults.counters["http_418"]) == (2, 1, 1)


def test_probabilities_are_deterministic_for_a_seed():
    def run(seed):
        faults = Faults(seed=seed)
        faults.set(error_rate=0.3, latency=0.01, latency_jitter=0.02)
        return [(d.status, d.delay) for d in (faults.before_request() for _ in range(200))]

    first, again, other = run(1), run(1), run(2)
    assert first == again and first != other
    errors = sum(1 for status, _ in first if status)
    assert 30 < errors < 90
    assert all(0.01 <= delay < 0.03 for _, delay in first)


def test_reset_restores_the_seeded_sequence():
    faults = Faults(seed=7)
    faults.set(error_rate=0.5)
    first = [faults.before_request().status for _ in range(20)]
    faults.reset()
    assert faults.plan.error_rate == 0
    faults.set(error_rate=0.5)
    assert [faults.before_request().status for _ in range(20)] == first


def test_path_filters_and_the_control_endpoint():
    faults = Faults()
    faults.set(error_rate=1.0, paths=["/v2/orders"], exclude_paths=["/v2/orders/health"])
    assert faults.before_request("POST", "/v2/orders").status == 503
    assert faults.before_request("GET", "/v2/account").status is None
    assert faults.before_request("GET", "/v2/orders/health").status is None
    faults.set(paths=[])
    assert faults.before_request("GET", "/__sim__/faults").status is None


def test_lost_responses_outside_the_middleware_just_report():
    faults = Faults()
    faults.set(drop_after_accept_burst=1)
    assert current_exchange() is None
    assert faults.after_order_accepted() is True
    assert faults.after_order_accepted() is False
    assert faults.counters["dropped_responses"] == 1


def test_stream_faults():
    faults = Faults()
    faults.set(ws_drop_after=2)
    state = StreamState()
    assert [faults.stream_message(state) for _ in range(4)] == ["send", "send", "drop", "drop"]
    assert faults.counters["ws_dropped_connections"] == 1
    faults.set(ws_drop_after=None, ws_silent=True)
    assert faults.stream_message(StreamState()) == "silence"
    faults.set(ws_silent=False, ws_drop_burst=1)
    assert [faults.stream_message(StreamState()) for _ in range(2)] == ["drop", "send"]


def test_bad_settings_are_refused_with_the_valid_names():
    faults = Faults()
    with pytest.raises(ValueError, match="unknown fault setting.*valid:.*error_rate"):
        faults.set(eror_rate=0.5)
    with pytest.raises(ValueError, match="probability"):
        faults.set(error_rate=2)
    with pytest.raises(ValueError, match="drop_mode"):
        faults.set(drop_mode="explode")
    assert faults.plan.error_rate == 0


def test_snapshot_reports_plan_bursts_and_counters():
    faults = Faults()
    faults.set(error_burst=2)
    faults.before_request()
    snap = faults.snapshot()
    assert snap["plan"]["error_burst"] == 2 and snap["pending_bursts"]["error_burst"] == 1
    assert snap["counters"]["http_5xx"] == 1
    assert "error_burst" in repr(faults)
