"""contrib/deploy: Kubernetes manifests, the container recipe, and its install steps for real."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "contrib" / "deploy"
KUBERNETES_VERSION = "1.30"  # oldest release still commonly run; the manifests use nothing newer


def manifest(name: str) -> dict[str, dict[str, Any]]:
    """The documents of ``kubernetes/<name>`` by kind."""
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text())
    return {doc["kind"]: doc for doc in docs}


def function_files(configmap: dict[str, Any], folder: Path, **attributes: Any) -> Path:
    """Write the ConfigMap's files into ``folder``; ``attributes`` override each trigger's."""
    folder.mkdir()
    for name, text in configmap["data"].items():
        (folder / name).write_text(text)
    config = yaml.safe_load(configmap["data"]["function.yaml"])
    for trigger in config["spec"]["triggers"].values():
        trigger.setdefault("attributes", {}).update(attributes)
    (folder / "function.yaml").write_text(yaml.safe_dump(config))
    return folder / "function.yaml"


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    """Status and body of a GET (or a POST of ``data``); OSError if nothing listens."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def status(url: str) -> int | None:
    """The status of a GET, or None while nothing listens."""
    try:
        return get(url)[0]
    except OSError:
        return None


# ---------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["http-function.yaml", "job-function.yaml"])
def test_manifest_validates_against_kubernetes_schemas(name: str) -> None:
    for doc in manifest(name).values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def pod_security(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    for container in pod["containers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
    mounts = {v["name"]: v for v in pod["volumes"]}
    assert mounts["function"]["configMap"]["name"]


def test_http_deployment_probes_metrics_and_shutdown() -> None:
    docs = manifest("http-function.yaml")
    template = docs["Deployment"]["spec"]["template"]
    pod = template["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == 8082
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "health"}
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8082",
        "prometheus.io/path": "/metrics",
    }
    pod_security(pod)

    function = yaml.safe_load(docs["ConfigMap"]["data"]["function.yaml"])
    grace = function["spec"]["gracefulShutdownTimeout"]
    assert grace.endswith("s")
    assert pod["terminationGracePeriodSeconds"] > float(grace[:-1])
    assert ports["http"] == function["spec"]["triggers"]["http"]["attributes"]["port"]

    service = docs["Service"]["spec"]
    assert service["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http"


def test_http_configmap_ships_the_hello_example() -> None:
    handler = manifest("http-function.yaml")["ConfigMap"]["data"]["hello.py"]
    example = (ROOT / "contrib" / "examples" / "hello" / "hello.py").read_text()
    assert handler.strip() in example


def test_job_runs_once_without_restarts() -> None:
    job = manifest("job-function.yaml")["Job"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert job["backoffLimit"] >= 0
    pod_security(job["template"]["spec"])
    function = yaml.safe_load(manifest("job-function.yaml")["ConfigMap"]["data"]["function.yaml"])
    assert [t["kind"] for t in function["spec"]["triggers"].values()] == ["job"]


# ---------------------------------------------------------------------------
# Container recipe
# ---------------------------------------------------------------------------


def test_containerfile_installs_with_install_sh_and_runs_as_non_root() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    assert "ARG EXTRAS=http,job" in text
    assert "sh contrib/deploy/wheelhouse.sh . /wheelhouse" in text
    assert 'install.sh /opt/dh-serverless /wheelhouse "$EXTRAS"' in text
    assert "PIP_NO_INDEX=1" in text
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text
    assert "http://127.0.0.1:8082/ready" in text
    assert 'ENTRYPOINT ["dh-serverless", "run", "/function/function.yaml"]' in text


@pytest.mark.parametrize("script", ["install.sh", "wheelhouse.sh"])
def test_scripts_explain_their_arguments(script: str) -> None:
    result = subprocess.run(["sh", DEPLOY / script], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage:" in result.stderr


# ---------------------------------------------------------------------------
# The install steps of the image, run for real
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_image_install_steps_serve_the_http_function(
    image_install, run_ok, free_port, tmp_path
) -> None:
    bin_dir = image_install(tmp_path / "venv", "http")
    port, health = free_port(), free_port()
    configmap = manifest("http-function.yaml")["ConfigMap"]
    function = function_files(configmap, tmp_path / "function", port=port, host="127.0.0.1")
    run_ok([bin_dir / "dh-serverless", "validate", function])

    log = (tmp_path / "run.log").open("w+")
    cmd = [bin_dir / "dh-serverless", "run", function, "--health-port", str(health)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while status(f"http://127.0.0.1:{health}/ready") != 200:
            assert proc.poll() is None, f"exited {proc.returncode}:\n{_read(log)}"
            assert time.monotonic() < deadline, f"/ready never turned 200:\n{_read(log)}"
            time.sleep(0.2)

        assert get(f"http://127.0.0.1:{port}/", data=b"Kubernetes") == (200, b"Hello, Kubernetes!")
        assert get(f"http://127.0.0.1:{port}/") == (200, b"Hello, world!")
        assert get(f"http://127.0.0.1:{health}/live")[0] == 200
        code, metrics = get(f"http://127.0.0.1:{health}/metrics")
        assert code == 200
        assert b"# TYPE" in metrics

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, _read(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_image_install_steps_run_the_job_function(
    image_install, run_ok, free_port, tmp_path
) -> None:
    bin_dir = image_install(tmp_path / "venv", "job")
    configmap = manifest("job-function.yaml")["ConfigMap"]
    function = function_files(configmap, tmp_path / "function")
    cmd = [bin_dir / "dh-serverless", "run", function, "--health-port", str(free_port())]
    result = run_ok(cmd, timeout=60)
    assert re.search(r'"words":\s*9', result.stdout + result.stderr)


def _read(log: Any) -> str:
    log.flush()
    log.seek(0)
    return str(log.read())
