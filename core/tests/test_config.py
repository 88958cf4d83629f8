"""function.yaml: Nuclio's files and the original project's load; mistakes get clear messages."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.core.config import (
    FunctionConfig,
    TriggerConfig,
    load_function_config,
    structure,
)
from dh_serverless.core.durations import parse_go_duration
from dh_serverless.core.errors import ConfigError
from dh_serverless.core.plugins import TRIGGERS, PluginHost
from dh_serverless.core.prepare import prepare_triggers

CLI = str(Path(sys.executable).with_name("dh-serverless"))
INSTALLED_TRIGGERS = {ep.name for ep in importlib.metadata.entry_points(group=TRIGGERS)}


@pytest.fixture
def write(tmp_path):
    """Write YAML text (dedented) to a file and return its path."""

    def write(text: str, name: str = "function.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def problems_of(excinfo) -> list[str]:
    return excinfo.value.problems


def function(triggers: str = "web: {kind: http}", spec_extra: str = "") -> str:
    """A minimal valid function.yaml with the given trigger block and extra spec lines."""
    triggers = textwrap.indent(textwrap.dedent(triggers).strip(), " " * 4)
    extra = textwrap.indent(textwrap.dedent(spec_extra).strip(), " " * 2)
    return (
        "apiVersion: nuclio.io/v1\nkind: NuclioFunction\nmetadata:\n  name: f\n"
        f"spec:\n  handler: main:handler\n{extra}\n  triggers:\n{triggers}\n"
    )


def spec_with(**spec):
    spec.setdefault("handler", "main:handler")
    return {"apiVersion": "nuclio.io/v1", "kind": "NuclioFunction", "spec": spec}


def trigger(**fields) -> TriggerConfig:
    fields.setdefault("kind", "http")
    config = structure(spec_with(triggers={"web": fields}), FunctionConfig, source="f.yaml")
    return config.spec.triggers["web"]


# ---------------------------------------------------------------------------
# Files that must load unchanged
# ---------------------------------------------------------------------------

ORDER_SCORER = """\
apiVersion: "nuclio.io/v1"
kind: NuclioFunction
metadata:
  name: order-scorer
  namespace: shop
  labels:
    team: payments
  annotations:
    owner: "alice@example.com"
spec:
  description: Scores incoming orders
  runtime: "python:3.11"
  handler: scorer.main:handler          # scorer/main.py -> handler()
  eventTimeout: 30s
  minReplicas: 1
  maxReplicas: 4
  env:
    - name: MODEL_PATH
      value: /opt/models/v3.bin
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {name: scorer-secrets, key: db-password}
  triggers:
    http:
      kind: http
      numWorkers: 4
      workerAvailabilityTimeoutMilliseconds: 2000
      attributes:
        port: 32080
        maxRequestBodySize: 1048576
        cors:
          enabled: true
          allowOrigins: ["https://shop.example.com"]
    nightly:
      kind: cron
      attributes:
        schedule: "0 30 2 * * *"        # 02:30:00 daily (seconds field first)
        event:
          method: POST
          path: /rescore
          body: '{"scope": "all"}'
          headers: {X-Source: nightly}
"""


def test_reference_example_loads_unchanged(write):
    config = load_function_config(write(ORDER_SCORER))
    assert config.api_version == "nuclio.io/v1"
    assert config.metadata.name == "order-scorer"
    assert config.metadata.namespace == "shop"
    assert config.metadata.labels == {"team": "payments"}
    assert config.metadata.annotations == {"owner": "alice@example.com"}
    spec = config.spec
    assert spec.handler == "scorer.main:handler"
    assert spec.runtime == "python:3.11"
    assert spec.description == "Scores incoming orders"
    assert spec.event_timeout == 30.0
    assert [(e.name, e.value) for e in spec.env] == [
        ("MODEL_PATH", "/opt/models/v3.bin"),
        ("DB_PASSWORD", None),
    ]
    assert spec.env[1].value_from == {
        "secretKeyRef": {"name": "scorer-secrets", "key": "db-password"}
    }
    http, nightly = spec.triggers["http"], spec.triggers["nightly"]
    assert (http.kind, http.workers, http.availability_timeout) == ("http", 4, 2.0)
    # attributes belong to the plugin: structured later, key case kept.
    assert http.attributes == {
        "port": 32080,
        "maxRequestBodySize": 1048576,
        "cors": {"enabled": True, "allowOrigins": ["https://shop.example.com"]},
    }
    assert (nightly.kind, nightly.workers, nightly.availability_timeout) == ("cron", 1, 10.0)
    assert nightly.attributes["schedule"] == "0 30 2 * * *"
    assert nightly.attributes["event"]["headers"] == {"X-Source": "nightly"}


@pytest.mark.skipif(
    not {"http", "cron"} <= INSTALLED_TRIGGERS, reason="needs the http and cron trigger plugins"
)
def test_reference_example_validates(write):
    result = run_cli("validate", write(ORDER_SCORER))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


# The original project's files (seed-repo.md §5-6): maxWorkers sits beside attributes,
# DH Core writes apiVersion nuclio.io/v1beta1, and the trigger kinds are its own.
ORIGINAL_CONFIGS = {
    "extproc": (
        """\
        apiVersion: "nuclio.io/v1beta1"
        kind: NuclioFunction
        metadata:
          name: extproc-demo
          namespace: nuclio
        spec:
          runtime: python
          handler: test_handler:handler_serve
          minReplicas: 1
          maxReplicas: 1
          triggers:
            extproc:
              kind: extproc
              attributes:
                type: wrapprocessor
                port: 5051
                gracefulShutdownTimeout: 5
                maxConcurrentStreams: 100
                processingOptions:
                  logStream: false
                  updateExtprocHeader: false
                  requestIdHeaderName: x-request-id
                  bufferStreamedBodies: true
                  perRequestBodyBufferBytes: 102400
                  decompressBodies: true
              maxWorkers: 4
        """,
        "extproc",
        4,
    ),
    "openinference": (
        """\
        apiVersion: "nuclio.io/v1"
        kind: NuclioFunction
        metadata:
          name: openinference-demo
          namespace: nuclio
        spec:
          runtime: python
          handler: test_handler:handler
          triggers:
            openinference:
              kind: openinference
              attributes:
                model_name: "test-model"
                model_version: "1.0"
                enable_rest: true
                rest_port: 8080
                grpc_port: 9000
                input_tensors:
                  - name: input
                    data_type: FP32
                    shape: [1, 224, 224, 3]
              max_workers: 4
        """,
        "openinference",
        4,
    ),
    "mjpeg": (
        """\
        apiVersion: "nuclio.io/v1beta1"
        kind: NuclioFunction
        metadata:
          name: mjpeg-demo
          namespace: nuclio
        spec:
          runtime: python
          handler: test_handler:handler_serve
          triggers:
            mjpeg:
              kind: mjpeg
              workerAllocatorName: shared
              workerAvailabilityTimeoutMilliseconds: 10000
              attributes:
                url: "http://127.0.0.1:8090/stream.mjpg"
                processing_factor: 5
                sink:
                  kind: webhook
                  attributes:
                    url: "http://localhost:8888/webhook"
                    method: POST
                    headers: {Content-Type: application/json}
                    maxRetries: 3
              maxWorkers: 4
        """,
        "mjpeg",
        4,
    ),
    "job": (
        """\
        apiVersion: nuclio.io/v1beta1
        kind: NuclioFunction
        metadata:
          name: dh-job
        spec:
          runtime: python
          handler: run_handler:handler_job
          minReplicas: 1
          maxReplicas: 1
          triggers:
            job:
              kind: job
              maxWorkers: 1
              attributes:
                event:
                  body: '{"text": "Test text. Job is done."}'
        """,
        "job",
        1,
    ),
    "serve": (
        """\
        apiVersion: nuclio.io/v1beta1
        kind: NuclioFunction
        metadata:
          name: dh-serve
        spec:
          runtime: python
          handler: run_handler:handler_serve
          triggers:
            http:
              kind: http
              maxWorkers: 2
        """,
        "http",
        2,
    ),
}


@pytest.mark.parametrize("name", list(ORIGINAL_CONFIGS))
def test_original_project_configs_load(write, name):
    text, kind, workers = ORIGINAL_CONFIGS[name]
    config = load_function_config(write(text))
    (trigger_name, trigger_config), *_ = config.spec.triggers.items()
    assert trigger_config.kind == kind
    assert trigger_config.workers == workers
    assert config.api_version.startswith("nuclio.io/")
    raw = __import__("yaml").safe_load(textwrap.dedent(text))
    assert trigger_config.attributes == raw["spec"]["triggers"][trigger_name].get("attributes", {})


def test_worker_allocator_name_is_kept(write):
    config = load_function_config(write(ORIGINAL_CONFIGS["mjpeg"][0]))
    assert config.spec.triggers["mjpeg"].worker_allocator_name == "shared"


def test_empty_attributes_block_loads(write):
    # every child commented out: YAML null, which Nuclio reads as empty
    path = write(function("web:\n  kind: http\n  attributes:\n  # port: 8080\n"))
    assert load_function_config(path).spec.triggers["web"].attributes == {}


# ---------------------------------------------------------------------------
# Keys: case and underscores ignored, maxWorkers/numWorkers, timeouts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["maxWorkers", "max_workers", "MaxWorkers", "maxworkers", "MAX_WORKERS", "max-workers"]
)
def test_max_workers_key_ignores_case_and_underscores(key):
    assert trigger(**{key: 3}).workers == 3


@pytest.mark.parametrize("key", ["numWorkers", "num_workers", "NumWorkers"])
def test_num_workers_key(key):
    assert trigger(**{key: 5}).workers == 5


def test_num_workers_wins_over_max_workers():
    assert trigger(maxWorkers=5, numWorkers=2).workers == 2


def test_max_workers_used_when_num_workers_is_zero():
    assert trigger(maxWorkers=4, numWorkers=0).workers == 4


def test_one_worker_by_default():
    assert trigger().workers == 1


def test_top_level_keys_ignore_case():
    data = {"APIVERSION": "nuclio.io/v1", "Kind": "NuclioFunction", "Metadata": {"Name": "x"}}
    data["Spec"] = {"Handler": "m:h", "EVENT_TIMEOUT": "1s", "Triggers": {"t": {"Kind": "http"}}}
    config = structure(data, FunctionConfig, source="f.yaml")
    assert config.metadata.name == "x"
    assert config.spec.handler == "m:h"
    assert config.spec.event_timeout == 1.0
    assert config.spec.triggers["t"].kind == "http"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 10.0), (-1, 10.0), (-5000, 10.0), (0, 0.0), (2500, 2.5), (10000, 10.0)],
)
def test_worker_availability_timeout(value, seconds):
    fields = {} if value is None else {"workerAvailabilityTimeoutMilliseconds": value}
    assert trigger(**fields).availability_timeout == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("2h45m", 9900.0),
        ("100us", 1e-4),
        ("100µs", 1e-4),
        ("10ns", 1e-8),
    ],
)
def test_event_timeout_accepts_go_durations(text, seconds):
    config = structure(spec_with(eventTimeout=text), FunctionConfig, source="f.yaml")
    assert config.spec.event_timeout == pytest.approx(seconds)
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["30", 30, 1.5, "1d", "abc", "s", "30 s", "0s", "-1s", True])
def test_event_timeout_rejects_what_nuclio_rejects(write, value):
    path = write(function(spec_extra=f"eventTimeout: {value!r}".replace("'", '"')))
    with pytest.raises(ConfigError) as excinfo:
        load_function_config(path)
    assert str(excinfo.value).startswith(f"{path}: ")
    (problem,) = problems_of(excinfo)
    assert problem.startswith("spec.eventTimeout: ")
    assert "30s" in problem or "greater than 0" in problem


@pytest.mark.parametrize("line", ["", "eventTimeout:", 'eventTimeout: ""'])
def test_no_event_timeout(write, line):
    assert load_function_config(write(function(spec_extra=line))).spec.event_timeout is None


@pytest.mark.parametrize("text", ["30", "1d", "", "m", "1.s5", "--1s"])
def test_parse_go_duration_errors_name_the_form(text):
    with pytest.raises(ValueError, match="Go duration such as '30s'"):
        parse_go_duration(text)


def test_unquoted_scalars_become_text_where_text_is_expected():
    data = spec_with(triggers={"t": {"kind": "http"}})
    data["metadata"] = {"name": "f", "labels": {"l3": 100, "ratio": 0.5}}
    config = structure(data, FunctionConfig, source="f.yaml")
    assert config.metadata.labels == {"l3": "100", "ratio": "0.5"}


# ---------------------------------------------------------------------------
# Mistakes: each message names the file and the full key path
# ---------------------------------------------------------------------------


def load_error(write, text: str) -> tuple[Path, ConfigError]:
    path = write(text)
    with pytest.raises(ConfigError) as excinfo:
        load_function_config(path)
    assert excinfo.value.exit_code == 2
    assert excinfo.value.source == str(path)
    assert str(excinfo.value).startswith(f"{path}: invalid configuration")
    return path, excinfo.value


def test_unknown_trigger_key_suggests_the_nearest(write):
    _, error = load_error(write, function("web:\n  kind: http\n  maxWorkerz: 2"))
    assert error.problems == [
        "spec.triggers.web.maxWorkerz: unknown key; did you mean 'maxWorkers'?"
    ]


@pytest.mark.parametrize(
    ("yaml_text", "path", "suggestion"),
    [
        ("metadata: {nmae: f}\nspec: {handler: m:h}", "metadata.nmae", "'name'"),
        ("spec: {hadnler: m:h}", "spec.hadnler", "'handler'"),
        ("spec: {handler: m:h, evenTimeout: 1s}", "spec.evenTimeout", "'eventTimeout'"),
        ("spec: {env: [{name: A, valeu: x}]}", "spec.env.0.valeu", "'value'"),
        ("apiVersoin: nuclio.io/v1", "apiVersoin", "'apiVersion'"),
    ],
)
def test_unknown_keys_anywhere(yaml_text, path, suggestion):
    import yaml

    with pytest.raises(ConfigError) as excinfo:
        structure(yaml.safe_load(yaml_text), FunctionConfig, source="f.yaml")
    (problem,) = excinfo.value.problems
    assert problem.startswith(f"{path}: unknown key")
    assert f"did you mean {suggestion}?" in problem


def test_unknown_key_with_nothing_close_lists_the_valid_keys():
    with pytest.raises(ConfigError) as excinfo:
        structure({"metadata": {"zzz": 1}}, FunctionConfig, source="f.yaml")
    (problem,) = excinfo.value.problems
    assert problem.startswith("metadata.zzz: unknown key; valid keys here: ")
    assert "annotations, labels, name, namespace" in problem


def test_meta_instead_of_metadata():
    # The upstream Python docs' example uses `meta:`, which Nuclio silently ignores.
    with pytest.raises(ConfigError) as excinfo:
        structure({"meta": {"name": "f"}}, FunctionConfig, source="f.yaml")
    assert excinfo.value.problems == ["meta: unknown key; did you mean 'metadata'?"]


def test_trigger_key_under_spec_says_where_it_belongs(write):
    _, error = load_error(write, function(spec_extra="maxWorkers: 4"))
    (problem,) = error.problems
    assert problem.startswith("spec.maxWorkers: ")
    assert "spec.triggers.<name>.maxWorkers" in problem


def test_handler_at_top_level_says_it_belongs_under_spec(write):
    text = (
        "apiVersion: nuclio.io/v1\nhandler: main:handler\nspec:\n  triggers: {web: {kind: http}}\n"
    )
    _, error = load_error(write, text)
    assert error.problems == ["handler: unknown key here: it belongs under spec (spec.handler)"]


@pytest.mark.parametrize(
    ("trigger_yaml", "path", "message"),
    [
        ('maxWorkers: "3"', "spec.triggers.web.maxWorkers", "expected a whole number, got str '3'"),
        ("numWorkers: 2.5", "spec.triggers.web.numWorkers", "expected a whole number"),
        ('disabled: "yes"', "spec.triggers.web.disabled", "expected true or false"),
        (
            'workerAvailabilityTimeoutMilliseconds: "2000"',
            "spec.triggers.web.workerAvailabilityTimeoutMilliseconds",
            "expected a whole number",
        ),
        ("attributes: [1, 2]", "spec.triggers.web.attributes", "expected a mapping of keys"),
        ("annotations: {a: null}", "spec.triggers.web.annotations.a", "expected text"),
    ],
)
def test_wrong_types(write, trigger_yaml, path, message):
    _, error = load_error(write, function(f"web:\n  kind: http\n  {trigger_yaml}"))
    (problem,) = error.problems
    assert problem.startswith(f"{path}: ")
    assert message in problem


@pytest.mark.parametrize(
    ("spec_yaml", "path", "message"),
    [
        ("env: {A: 1}", "spec.env", "expected a list"),
        ("env: [{value: x}]", "spec.env.0.name", "required key missing"),
        ("workerKind: fibers", "spec.workerKind", "fibers"),
    ],
)
def test_wrong_spec_values(write, spec_yaml, path, message):
    _, error = load_error(write, function(spec_extra=spec_yaml))
    (problem,) = error.problems
    assert problem.startswith(f"{path}: ")
    assert message in problem


def test_triggers_as_a_list(write):
    text = "apiVersion: nuclio.io/v1\nspec:\n  handler: m:h\n  triggers: [http]\n"
    _, error = load_error(write, text)
    assert error.problems == ["spec.triggers: expected a mapping of keys, got list ['http']"]


def test_every_problem_is_reported_at_once(write):
    text = function("web:\n  kind: http\n  maxWorkers: '2'\n  colour: red", spec_extra="hadnler: x")
    _, error = load_error(write, text)
    assert len(error.problems) == 3
    assert {p.split(":")[0] for p in error.problems} == {
        "spec.hadnler",
        "spec.triggers.web.maxWorkers",
        "spec.triggers.web.colour",
    }


def test_trigger_without_kind(write):
    _, error = load_error(write, function("web:\n  numWorkers: 2"))
    assert error.problems == ["spec.triggers.web.kind: required key missing"]


def test_trigger_name_must_equal_its_key(write):
    _, error = load_error(write, function("web:\n  kind: http\n  name: api"))
    assert error.problems == ["spec.triggers.web.name: must equal the key 'web'"]


def test_trigger_name_equal_to_its_key_is_fine(write):
    path = write(function("web:\n  kind: http\n  name: web"))
    assert load_function_config(path).spec.triggers["web"].name == "web"


def test_too_many_workers(write):
    _, error = load_error(write, function("web:\n  kind: http\n  numWorkers: 100001"))
    assert error.problems == ["spec.triggers.web.maxWorkers: must be between 1 and 100000"]


def test_no_trigger_with_the_default_http_trigger_disabled(write):
    _, error = load_error(
        write,
        "apiVersion: nuclio.io/v1\nspec:\n  handler: m:h\n  disableDefaultHTTPTrigger: true\n",
    )
    (problem,) = error.problems
    assert problem.startswith("spec.triggers: no trigger configured")


def test_wrong_api_version(write):
    _, error = load_error(write, function().replace("nuclio.io/v1", "apps/v1"))
    assert error.problems == ["apiVersion: expected 'nuclio.io/v1', got 'apps/v1'"]


def test_wrong_kind(write):
    _, error = load_error(write, function().replace("NuclioFunction", "Deployment"))
    (problem,) = error.problems
    assert problem.startswith("kind: ")
    assert "NuclioFunction" in problem


def test_yaml_syntax_error(write):
    _, error = load_error(write, "spec:\n  handler: [main\n")
    (problem,) = error.problems
    assert problem.startswith("not valid YAML: ")
    assert "line 2" in problem


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", ""])
def test_top_level_must_be_a_mapping(write, text):
    _, error = load_error(write, text)
    assert error.problems == ["expected a NuclioFunction mapping at the top level"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as excinfo:
        load_function_config(path)
    assert str(excinfo.value).startswith(f"{path}: ")
    (problem,) = excinfo.value.problems
    assert problem.startswith("cannot read the file: ")
    assert "No such file" in problem


def test_structure_names_the_given_path():
    with pytest.raises(ConfigError) as excinfo:
        structure({"maxWorkers": 1}, TriggerConfig, source="x.yaml", path=("spec", "triggers", "a"))
    assert str(excinfo.value).startswith("x.yaml: ")
    assert "spec.triggers.a.kind: required key missing" in excinfo.value.problems
    assert "spec.triggers.a.maxWorkers" not in str(excinfo.value)


# ---------------------------------------------------------------------------
# Trigger attributes are checked against the plugin (no installed plugin needed)
# ---------------------------------------------------------------------------


@attrs.frozen
class FakeAttributes:
    port: int = 8080
    max_request_body_size: int = 4194304


class FakeTrigger:
    attributes_type = FakeAttributes


def test_trigger_level_key_inside_attributes_says_where_it_belongs(write):
    path = write(function("web:\n  kind: fake\n  attributes: {max_workers: 3}"))
    host = PluginHost()
    host.provide(TRIGGERS, "fake", FakeTrigger)
    with pytest.raises(ConfigError) as excinfo:
        prepare_triggers(load_function_config(path), str(path), host)
    assert excinfo.value.problems == [
        "spec.triggers.web.attributes.max_workers: belongs to the trigger, not its "
        "attributes: move it to spec.triggers.web.maxWorkers"
    ]


def test_plugin_attributes_are_structured_with_the_same_rules(write):
    text = function("web:\n  kind: fake\n  attributes: {PORT: 9000, maxRequestBodySiez: 1}")
    path = write(text)
    host = PluginHost()
    host.provide(TRIGGERS, "fake", FakeTrigger)
    with pytest.raises(ConfigError) as excinfo:
        prepare_triggers(load_function_config(path), str(path), host)
    assert excinfo.value.problems == [
        "spec.triggers.web.attributes.maxRequestBodySiez: unknown key; "
        "did you mean 'maxRequestBodySize'?"
    ]
    path = write(function("web:\n  kind: fake\n  attributes: {PORT: 9000}"))
    (prepared,) = prepare_triggers(load_function_config(path), str(path), host)
    assert prepared.attributes == FakeAttributes(port=9000)


# ---------------------------------------------------------------------------
# dh-serverless validate
# ---------------------------------------------------------------------------


def run_cli(*args) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DH_SERVERLESS_LOG_LEVEL": "warning"}
    return subprocess.run(
        [CLI, *map(str, args)], capture_output=True, text=True, timeout=60, env=env
    )


def test_validate_invalid_file_exits_2_with_the_problem(write):
    path = write(function("web:\n  kind: http\n  maxWorkerz: 2"))
    result = run_cli("validate", path)
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "spec.triggers.web.maxWorkerz" in result.stderr
    assert "did you mean 'maxWorkers'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_validate_yaml_error_exits_2_without_traceback(write):
    path = write("spec:\n  handler: [main\n")
    result = run_cli("validate", path)
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_missing_file_exits_2(tmp_path):
    result = run_cli("validate", tmp_path / "missing.yaml")
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_trigger_key_in_http_attributes(write):
    if "http" not in INSTALLED_TRIGGERS:
        pytest.skip("the http trigger plugin (plugins/trigger_http) is not installed")
    path = write(function("web:\n  kind: http\n  attributes: {max_workers: 3}"))
    result = run_cli("validate", path)
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "spec.triggers.web.attributes.max_workers" in result.stderr
    assert "belongs to the trigger" in result.stderr
    assert "spec.triggers.web.maxWorkers" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_unknown_trigger_kind(write):
    path = write(function("web:\n  kind: kafkaesque"))
    result = run_cli("validate", path)
    assert result.returncode == 2
    assert "unknown trigger kind 'kafkaesque'" in result.stderr
    assert "dh-trigger-kafkaesque" in result.stderr
    for kind in INSTALLED_TRIGGERS:
        assert kind in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------
# Fuzzing: structure() returns or raises ConfigError, nothing else
# ---------------------------------------------------------------------------

KEYS = [
    "apiVersion", "kind", "metadata", "spec", "status", "name", "namespace", "labels",
    "annotations", "handler", "runtime", "description", "env", "envFrom", "value", "valueFrom",
    "eventTimeout", "triggers", "workerKind", "gracefulShutdownTimeout", "numWorkers",
    "maxWorkers", "max_workers", "MaxWorkers", "workerAvailabilityTimeoutMilliseconds",
    "workerTerminationTimeout", "disabled", "batch", "url", "attributes", "minReplicas",
    "web", "http",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["30s", "1m30s", "nuclio.io/v1", "NuclioFunction", "http", "m:h", ""])
)
keys = st.sampled_from(KEYS) | st.text(max_size=6) | st.integers() | st.none() | st.booleans()
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)
trigger_dicts = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "apiVersion": scalars,
        "kind": scalars,
        "metadata": st.dictionaries(st.sampled_from(KEYS), values, max_size=4) | values,
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "handler": scalars,
                "eventTimeout": scalars,
                "env": st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=3))
                | values,
                "triggers": st.dictionaries(keys, trigger_dicts | values, max_size=3) | values,
            },
        )
        | values,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shaped | values)
def test_structure_returns_or_raises_config_error(data):
    try:
        config = structure(data, FunctionConfig, source="fuzz.yaml")
    except ConfigError as exc:
        error = exc
    else:
        assert isinstance(config, FunctionConfig)
        return
    assert error.problems
    assert str(error).startswith("fuzz.yaml: invalid configuration")


@attrs.frozen
class _Collections:
    origins: tuple[str, ...] = ()
    methods: frozenset[str] = frozenset()


@pytest.mark.parametrize("key", ["origins", "methods"])
def test_a_lone_string_is_not_a_collection_of_characters(key):
    with pytest.raises(ConfigError, match=rf"{key}: expected a list, got str 'GET'"):
        structure({key: "GET"}, _Collections, source="f.yaml")
    assert structure({key: ["GET", "PUT"]}, _Collections, source="f.yaml")
