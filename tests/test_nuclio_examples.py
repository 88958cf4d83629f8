"""Nuclio's own example functions run unchanged: trigger-less function.yaml files (shaped like
``hack/examples/python/*`` in Nuclio's repository) and a handler with inline configuration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dhcore_fixtures import clean_env, free_port, http, stop, wait_until

DH_SERVERLESS = Path(sys.executable).parent / "dh-serverless"

HELLOWORLD_PY = """
def handler(context, event):
    context.logger.info('This is an unstructured log')

    return context.Response(body='Hello, from nuclio :]',
                            headers={},
                            content_type='text/plain',
                            status_code=200)
"""

#: Shaped like Nuclio's hack/examples/python/helloworld/function.yaml: no trigger.
HELLOWORLD_YAML = """\
apiVersion: "nuclio.io/v1beta1"
kind: "NuclioFunction"
spec:
  description: Showcases unstructured logging and a structured response.
  runtime: "python"
  handler: helloworld:handler
  minReplicas: 1
  maxReplicas: 1
  disableDefaultHTTPTrigger: false
"""

#: Shaped like Nuclio's encrypt and tensorflow examples: build commands and a base image.
REVERSER_YAML = """\
apiVersion: "nuclio.io/v1beta1"
kind: "NuclioFunction"
spec:
  description: >
    Reverses the body, and showcases build commands that install
    OS-level and Python packages.
  runtime: python
  handler: reverser:reverse
  minReplicas: 1
  maxReplicas: 1
  disableDefaultHTTPTrigger: false
  build:
    baseImage: python:3.9-buster
    commands:
    - "apt-get update && apt-get install -y wget"
    - "pip install requests"
"""

REVERSER_PY = """
def reverse(context, event):
    return event.body[::-1]
"""

#: Shaped like Nuclio's sentiments example: no apiVersion, no kind.
BARE_YAML = """\
spec:
  description: Echoes the body
  runtime: "python"
  handler: "echo:handler"
  minReplicas: 1
  maxReplicas: 1
"""

ECHO_PY = """
def handler(context, event):
    return context.Response(body=event.body, content_type="application/octet-stream")
"""

INLINE_PY = """\
# @nuclio.configure
#
# function.yaml:
#   apiVersion: "nuclio.io/v1"
#   kind: "NuclioFunction"
#   spec:
#     runtime: "python"
#     triggers:
#       api:
#         kind: http
#         numWorkers: 2
#         attributes:
#           port: PORT
#           host: 127.0.0.1
#     build:
#       commands:
#       - pip install simplejson
#

def handler(context, event):
    return {"worker": context.worker_id, "trigger": context.trigger.name}
"""


def serve(folder: Path, target: str, port: int, **env: str) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [DH_SERVERLESS, "run", target, "--health-host", "127.0.0.1", "--health-port", "0"],
        cwd=folder,
        env=clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def up() -> bool:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"exited {process.returncode}\n{out}\n{err}")
        try:
            return http(f"http://127.0.0.1:{port}/__internal/health", timeout=2)[0] == 200
        except OSError:
            return False

    wait_until(up, 30, "the function")
    return process, folder


@pytest.mark.parametrize(
    ("files", "request_body", "expected"),
    [
        ({"function.yaml": HELLOWORLD_YAML, "helloworld.py": HELLOWORLD_PY}, None,
         b"Hello, from nuclio :]"),
        ({"function.yaml": REVERSER_YAML, "reverser.py": REVERSER_PY}, b"abc", b"cba"),
        ({"function.yaml": BARE_YAML, "echo.py": ECHO_PY}, b"\x00\x01", b"\x00\x01"),
    ],
    ids=["helloworld", "build-commands", "no-apiversion"],
)  # fmt: skip
def test_trigger_less_nuclio_examples_get_the_default_http_trigger(
    tmp_path, files, request_body, expected
):
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    port = free_port()
    # The default trigger listens on 8080; tests move it to a free port.
    process, _ = serve(tmp_path, "function.yaml", port, DH_SERVERLESS_DEFAULT_HTTP_PORT=str(port))
    try:
        status, body = http(f"http://127.0.0.1:{port}/", request_body)
    finally:
        _, err = stop(process)
    assert (status, body) == (200, expected)
    assert process.returncode == 0
    assert "triggers: default-http (http)" in err
    builds = [line for line in err.splitlines() if "spec.build" in line]
    if "build:" in files["function.yaml"]:
        (line,) = builds
        assert "spec.build (baseImage, commands) is accepted and not run" in line
    else:
        assert builds == []


def test_inline_configuration_runs_validates_and_invokes(tmp_path):
    port = free_port()
    (tmp_path / "scorer.py").write_text(INLINE_PY.replace("PORT", str(port)))
    result = subprocess.run(
        [DH_SERVERLESS, "validate", "scorer.py"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "handler scorer:handler, triggers: api (http)" in result.stdout
    result = subprocess.run(
        [DH_SERVERLESS, "invoke", "scorer.py"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == '{"worker": "0", "trigger": "api"}'
    process, _ = serve(tmp_path, "scorer.py", port)
    try:
        status, body = http(f"http://127.0.0.1:{port}/")
    finally:
        _, err = stop(process)
    assert status == 200
    assert body in (b'{"worker": "0", "trigger": "api"}', b'{"worker": "1", "trigger": "api"}')
    assert "spec.build (commands) is accepted and not run" in err


def test_a_bad_inline_block_is_a_config_error_naming_the_line(tmp_path):
    (tmp_path / "parser.py").write_text(
        "# @nuclio.configure\n#\n# function.yaml:\n#   spec:\n#     runtime:python\n"
        "#     handler: parser:handler\n#\n\ndef handler(context, event):\n    return 1\n"
    )
    for command in ("run", "validate", "invoke"):
        result = subprocess.run(
            [DH_SERVERLESS, command, "parser.py"], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 2
        assert result.stderr.splitlines()[:2] == [
            "error: parser.py: invalid configuration",
            "  - line 6 ('#     handler: parser:handler'): the '# @nuclio.configure' block "
            "starting at line 1 is not valid YAML: mapping values are not allowed here",
        ]
