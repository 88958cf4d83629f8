"""contrib/deploy: the Envoy configs per processor type and the Kubernetes sidecar example."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "contrib" / "deploy"
SIDECAR = DEPLOY / "kubernetes" / "extproc-sidecar.yaml"
KUBERNETES_VERSION = "1.30"


def documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(SIDECAR.read_text())}


def test_sidecar_manifest_validates_against_kubernetes_schemas():
    docs = documents()
    assert set(docs) == {"ConfigMap", "Secret", "Deployment", "Service"}
    for doc in docs.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_sidecar_pod_shape():
    pod = documents()["Deployment"]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"envoy", "processor", "service"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in containers.values():
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["limits"]
    assert containers["processor"]["readinessProbe"]["httpGet"]["path"] == "/ready"
    service = documents()["Service"]["spec"]["ports"][0]
    assert service["targetPort"] == "http"
    assert containers["envoy"]["ports"][0]["name"] == "http"


@pytest.mark.parametrize(
    "path",
    [*sorted((DEPLOY / "envoy").glob("*.yaml")), None],
    ids=lambda p: p.name if p else "sidecar",
)
def test_envoy_configs_validate_with_envoy(path, harness, tmp_path):
    if path is None:
        path = tmp_path / "envoy.yaml"
        path.write_text(documents()["ConfigMap"]["data"]["envoy.yaml"])
    result = subprocess.run(
        [harness.ENVOY, "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    options = clusters["extproc"]["typed_extension_protocol_options"]
    assert "http2_protocol_options" in str(options)  # an HTTP/1 cluster fails every request


@contextlib.contextmanager
def sidecar(fresh_stack, harness, monkeypatch, code_suffix: str = ""):
    """The sidecar example's function and Envoy as shipped (ports moved to free ones)."""
    data = documents()["ConfigMap"]["data"]
    monkeypatch.setenv("API_KEYS", "k1,k2")
    with fresh_stack() as s:
        (s.folder / "apikey.py").write_text(data["apikey.py"] + code_suffix)
        function = yaml.safe_load(data["function.yaml"])
        port = harness.free_port()
        function["spec"]["triggers"]["extproc"]["attributes"]["port"] = port
        processor = harness.Processor(
            s.folder, "preprocessor", port=port, yaml_text=yaml.safe_dump(function)
        )
        s.started.append(processor)
        envoy_config = yaml.safe_load(data["envoy.yaml"])
        envoy_config["admin"]["address"]["socket_address"]["port_value"] = harness.free_port()
        listener = envoy_config["static_resources"]["listeners"][0]["address"]["socket_address"]
        listener.update(address="127.0.0.1", port_value=harness.free_port())
        for cluster in envoy_config["static_resources"]["clusters"]:
            endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
            socket = endpoint["endpoint"]["address"]["socket_address"]
            socket["port_value"] = s.upstream.port if cluster["name"] == "service" else port
        envoy = harness.Envoy(envoy_config, s.folder)
        s.started.append(envoy)
        yield s, envoy


def test_sidecar_example_works_as_written(fresh_stack, harness, monkeypatch):
    with sidecar(fresh_stack, harness, monkeypatch) as (_, envoy):
        denied = envoy.request("GET", "/orders")
        assert denied.status == 401
        assert denied.body == b"missing or unknown x-api-key\n"
        assert denied.headers["www-authenticate"] == "ApiKey"
        wrong = envoy.request("GET", "/orders", headers={"x-api-key": "nope"})
        assert wrong.status == 401
        allowed = envoy.request("GET", "/orders", headers={"x-api-key": "k2"})
        assert allowed.status == 200
        seen = json.loads(allowed.body)["Headers"]
        assert "x-api-key" not in seen
        assert seen["x-checked-by"] == "apikey"


BROKEN_GUARD = """

_checked = handler


def handler(context, event):  # the guard breaks on a request that asks for it
    if event.get_header("x-break"):
        raise RuntimeError("the key store is down")
    return _checked(context, event)
"""


def test_sidecar_api_key_guard_fails_closed_when_its_handler_fails(
    fresh_stack, harness, monkeypatch
):
    """With the shipped config a guard that raises answers 500: nothing reaches the service
    without a checked key (``onError: passthrough`` would let it through, issue 22)."""
    with sidecar(fresh_stack, harness, monkeypatch, BROKEN_GUARD) as (_, envoy):
        broken = envoy.request("GET", "/orders", headers={"x-break": "1"})
        assert broken.status == 500, broken.body
        assert broken.status != 200
        still = envoy.request("GET", "/orders", headers={"x-api-key": "k1"})
        assert still.status == 200
