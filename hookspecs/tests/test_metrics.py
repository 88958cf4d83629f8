"""Plugin metric families: plain cells, get-or-create by name, clear errors."""

from __future__ import annotations

import pytest

from dh_serverless.hookspecs import Metrics


def test_cells_are_plain_numbers_kept_per_label_values():
    metrics = Metrics()
    requests = metrics.counter("dh_x_requests", "Requests", ("model", "outcome"))
    ok = requests.labels("m", "ok")
    ok.inc()
    ok.inc(2)
    assert requests.labels("m", "ok") is ok
    assert ok.value == 3
    assert requests.labels("m", "error").value == 0
    assert sorted(requests.cells) == [("m", "error"), ("m", "ok")]


def test_asking_again_for_a_name_returns_the_same_family():
    metrics = Metrics()
    first = metrics.gauge("dh_x_open", "Open", ("trigger",))
    assert metrics.gauge("dh_x_open", "Open", ("trigger",)) is first
    assert list(metrics) == [first]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: m.gauge("dh_x_requests", "R", ("model",)), "exists as a counter"),
        (lambda m: m.counter("dh_x_requests", "R", ("other",)), r"with labels \('model',\)"),
    ],
)
def test_the_same_name_with_another_type_or_labels_is_an_error(make, message):
    metrics = Metrics()
    metrics.counter("dh_x_requests", "R", ("model",))
    with pytest.raises(ValueError, match=message):
        make(metrics)


def test_wrong_number_of_label_values_is_an_error():
    family = Metrics().counter("dh_x_requests", "R", ("model", "outcome"))
    with pytest.raises(ValueError, match="has labels"):
        family.labels("only-one")


def test_gauge_reads_a_function_at_scrape_time():
    cell = Metrics().gauge("dh_x_viewers", "Viewers").labels()
    cell.set(2)
    cell.dec()
    assert cell.read() == 1
    viewers = [1, 2, 3]
    cell.set_function(lambda: len(viewers))
    viewers.append(4)
    assert cell.read() == 4


def test_histogram_cells_are_cumulative_with_an_infinite_bucket():
    family = Metrics().histogram("dh_x_seconds", "Time", ("model",), buckets=(1, 0.1))
    cell = family.labels("m")
    for value in (0.05, 0.5, 0.5, 7):
        cell.observe(value)
    assert cell.cumulative() == [("0.1", 1), ("1.0", 3), ("+Inf", 4)]
    assert cell.count == 4
    assert cell.sum == pytest.approx(8.05)


def test_a_removed_cell_is_no_longer_exported():
    family = Metrics().gauge("dh_x_viewer_bytes", "Bytes", ("viewer",))
    family.labels("a").set(1)
    family.remove("a")
    assert family.cells == {}


def test_rate_meter_reads_events_per_second_and_zero_once_silent(monkeypatch):
    from dh_serverless.hookspecs.metrics import RateMeter

    meter = RateMeter()
    for i in range(61):  # 30 per second for two seconds
        meter.tick(100.0 + i / 30)
    assert meter.rate == pytest.approx(30, rel=0.05)
    monkeypatch.setattr("time.monotonic", lambda: 102.5)
    assert meter.read() == pytest.approx(30, rel=0.05)
    monkeypatch.setattr("time.monotonic", lambda: 105.0)
    assert meter.read() == 0.0
