"""Serving processes: the metrics merge, the process count and its configuration errors.

The processes themselves (real children, signals, clients) are tested end to end in
``tests/test_processes_e2e.py`` and in the http, openinference and extproc plugins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from dh_serverless.core.config import load_function_config
from dh_serverless.core.errors import ConfigError
from dh_serverless.core.metrics import RuntimeCollector, make_registry
from dh_serverless.core.plugins import PluginHost
from dh_serverless.core.prepare import prepare_triggers, serving_process_count
from dh_serverless.core.serving_processes import merge_metrics

CLI = shutil.which("dh-serverless", path=os.path.dirname(sys.executable))


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class _Families:
    def __init__(self, events: dict[str, float], label: str = "web") -> None:
        self.events = events
        self.label = label

    def collect(self):  # type: ignore[no-untyped-def]
        counter = CounterMetricFamily("dh_events", "Events", labels=["trigger", "outcome"])
        for outcome, count in self.events.items():
            counter.add_metric([self.label, outcome], count)
        yield counter
        histogram = HistogramMetricFamily("dh_handler_duration_seconds", "Time", labels=["t"])
        histogram.add_metric([self.label], [("0.1", 1.0), ("+Inf", 3.0)], 0.5)
        yield histogram
        yield GaugeMetricFamily("process_start_time_seconds", "Start", value=1234.0)


def _text(events: dict[str, float], label: str = "web") -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(events, label))
    return generate_latest(registry).decode()


def test_merge_sums_counters_and_histograms_and_keeps_the_parents_process_families():
    merged = _values(merge_metrics(_text({"ok": 3}), [_text({"ok": 5, "error": 1})]))
    key = ("trigger", "web")
    assert merged[("dh_events_total", (("outcome", "ok"), key))] == 8
    assert merged[("dh_events_total", (("outcome", "error"), key))] == 1
    assert merged[("dh_handler_duration_seconds_count", (("t", "web"),))] == 6
    assert merged[("dh_handler_duration_seconds_bucket", (("le", "0.1"), ("t", "web")))] == 2
    assert merged[("dh_handler_duration_seconds_sum", (("t", "web"),))] == 1.0
    assert merged[("process_start_time_seconds", ())] == 1234.0  # not summed


def test_merge_keeps_families_only_a_child_has_and_skips_a_silent_child():
    merged = _values(merge_metrics(_text({"ok": 1}), ["", _text({"ok": 2}, label="other")]))
    assert merged[("dh_events_total", (("outcome", "ok"), ("trigger", "other")))] == 2
    assert merged[("dh_events_total", (("outcome", "ok"), ("trigger", "web")))] == 1


def test_merge_of_the_runtime_registry_round_trips():
    own = generate_latest(make_registry(RuntimeCollector())).decode()
    child = generate_latest(make_registry(RuntimeCollector(), defaults=False)).decode()
    assert "process_" not in child
    merged = merge_metrics(own, [child])
    assert set(_values(merged)) == set(_values(own))


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=4, unique=True),
    counts=st.lists(st.integers(0, 10**12), min_size=1, max_size=4),
    children=st.integers(0, 4),
)
def test_merge_of_n_copies_multiplies_every_sample(labels, counts, children):
    text = _text({o: float(c) for o, c in zip(labels, counts, strict=False)}, label='a"\\\nb')
    merged = _values(merge_metrics(text, [text] * children))
    for key, value in _values(text).items():
        expected = value if key[0].startswith("process_") else value * (children + 1)
        assert merged[key] == pytest.approx(expected)


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "main.py").write_text("def handler(context, event):\n    return 'ok'\n")
    path = tmp_path / "function.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _count(path: Path, override: int | None = None) -> int:
    config = load_function_config(path)
    prepared = prepare_triggers(config, str(path), PluginHost())
    return serving_process_count(config, prepared, str(path), override)


HTTP = """\
    spec:
      handler: main:handler
      {processes}
      triggers:
        web: {{kind: http, attributes: {{port: 8080}}}}
"""


def test_count_is_1_by_default_and_follows_spec_and_override(tmp_path):
    assert _count(_write(tmp_path, HTTP.format(processes=""))) == 1
    assert _count(_write(tmp_path, HTTP.format(processes="processes: 3"))) == 3
    assert _count(_write(tmp_path, HTTP.format(processes="processes: 3")), override=2) == 2


@pytest.mark.parametrize("value", ["0", "-1", "2000"])
def test_spec_processes_out_of_range_is_a_config_error(tmp_path, value):
    with pytest.raises(ConfigError, match=r"spec\.processes: must be between 1 and 1024"):
        load_function_config(_write(tmp_path, HTTP.format(processes=f"processes: {value}")))


def test_a_job_ignores_processes(tmp_path):
    path = _write(
        tmp_path,
        "spec:\n  handler: main:handler\n  processes: 4\n  triggers:\n    run: {kind: job}\n",
    )
    assert _count(path) == 1


EXTPROC = """\
    spec:
      handler: main:handler
      {processes}
      triggers:
        ext:
          kind: extproc
          attributes: {{type: preprocessor, port: 9001, processes: 2}}
"""


def test_extproc_processes_attribute_is_an_alias(tmp_path):
    assert _count(_write(tmp_path, EXTPROC.format(processes=""))) == 2
    assert _count(_write(tmp_path, EXTPROC.format(processes="processes: 2"))) == 2
    assert _count(_write(tmp_path, EXTPROC.format(processes="")), override=3) == 3
    # --processes overrides a disagreeing pair (and the children get that count too)
    assert _count(_write(tmp_path, EXTPROC.format(processes="processes: 3")), override=4) == 4
    with pytest.raises(ConfigError, match=r"attributes\.processes: 2 disagrees with spec"):
        _count(_write(tmp_path, EXTPROC.format(processes="processes: 3")))


@pytest.mark.skipif(CLI is None, reason="dh-serverless is not installed in this venv")
def test_validate_reports_processes_and_a_trigger_that_serves_from_one_process(tmp_path):
    path = _write(tmp_path, HTTP.format(processes="processes: 2"))
    done = subprocess.run([CLI, "validate", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2 processes" in done.stdout
    path.write_text(
        "spec:\n  handler: main:handler\n  processes: 2\n  triggers:\n"
        "    cam: {kind: mjpeg, attributes: {url: 'http://127.0.0.1:1/x'}}\n"
    )
    done = subprocess.run([CLI, "validate", str(path)], capture_output=True, text=True)
    assert done.returncode != 0
    assert "trigger cam (mjpeg) serves from one process only" in done.stderr


@pytest.mark.skipif(CLI is None, reason="dh-serverless is not installed in this venv")
@pytest.mark.parametrize("value", ["0", "x"])
def test_cli_processes_must_be_a_positive_number(tmp_path, value):
    path = _write(tmp_path, HTTP.format(processes=""))
    done = subprocess.run(
        [CLI, "run", str(path), "--processes", value], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "--processes" in done.stderr
