"""The extproc trigger's attributes: the original's README block, defaults, errors."""

from __future__ import annotations

import subprocess
import sysconfig
import textwrap
from pathlib import Path

import pytest

from dh_serverless.core.config import load_function_config
from dh_serverless.core.plugins import PluginHost
from dh_serverless.core.prepare import prepare_triggers
from dh_serverless.triggers.extproc import ExtprocAttributes, ProcessingOptions

DH = str(Path(sysconfig.get_path("scripts")) / "dh-serverless")

# The original README's block, byte for byte (trailing spaces included); its last line
# `      ...` is an elision ("and the rest of the trigger"), not YAML, so it is left out.
README_BLOCK = (
    "    myextproctrigger:\n"
    "      kind: extproc\n"
    "      attributes:\n"
    "        type: wrapprocessor                        \n"
    "        port: 5051                                 \n"
    "        gracefulShutdownTimeout: 15\n"
    "        maxConcurrentStreams: 100\n"
    "        processingOptions:\n"
    "          logStream: false\n"
    "          logPhases: false\n"
    "          requestIdHeaderName: x-request-id\n"
    "          bufferStreamedBodies: false\n"
    "          perRequestBodyBufferBytes: 102400\n"
    "          decompressBodies: true\n"
    "      maxWorkers: 4  \n"
)
HEAD = """\
apiVersion: "nuclio.io/v1"
kind: NuclioFunction
metadata:
  name: extproc-demo
spec:
  handler: test_handler:handler_serve
  triggers:
"""


def attributes(tmp_path: Path, block: str) -> tuple[ExtprocAttributes, int]:
    path = tmp_path / "function.yaml"
    path.write_text(HEAD + block)
    config = load_function_config(path)
    (prepared,) = prepare_triggers(config, str(path), PluginHost())
    return prepared.attributes, prepared.config.workers


def test_the_original_readme_block_loads_unchanged(tmp_path):
    a, workers = attributes(tmp_path, README_BLOCK)
    assert workers == 4
    assert a == ExtprocAttributes(
        type="wrapprocessor",
        port=5051,
        graceful_shutdown_timeout=15,
        max_concurrent_streams=100,
        processing_options=ProcessingOptions(
            buffer_streamed_bodies=False, per_request_body_buffer_bytes=102400
        ),
    )


def test_a_partial_processing_options_keeps_the_other_defaults(tmp_path):
    block = textwrap.indent(
        textwrap.dedent("""\
        ext:
          kind: extproc
          attributes:
            type: preprocessor
            port: 5051
            processingOptions:
              logStream: true
        """),
        "    ",
    )
    a, _ = attributes(tmp_path, block)
    o = a.processing_options
    assert o.log_stream is True
    assert o.request_id_header_name == "x-request-id"  # the original zero-fills these
    assert o.decompress_bodies is True
    assert o.buffer_streamed_bodies is True
    assert o.per_request_body_buffer_bytes == 1024 * 1024
    assert (a.graceful_shutdown_timeout, a.max_concurrent_streams, a.processes) == (15, 100, 1)


@pytest.mark.parametrize(
    "keys",
    [
        "GRACEFULSHUTDOWNTIMEOUT: 5\n        processingOptions: {updateExtprocHeader: true}",
        "graceful_shutdown_timeout: 5\n        processing_options: {update_ext_proc_header: true}",
    ],
)
def test_keys_match_ignoring_case_and_underscores(tmp_path, keys):
    block = (
        "    ext:\n      kind: extproc\n      attributes:\n"
        f"        type: postprocessor\n        port: 1\n        {keys}\n"
    )
    a, _ = attributes(tmp_path, block)
    assert a.graceful_shutdown_timeout == 5
    assert a.processing_options.update_ext_proc_header is True


@pytest.mark.parametrize(
    ("attrs_text", "message"),
    [
        ("port: 5051", "attributes.type"),
        ("type: preprocessor", "attributes.port"),
        ("type: proxy\n        port: 5051", "attributes.type: proxy not in"),
        ("type: preprocessor\n        port: 70000", "port must be between"),
        ("type: preprocessor\n        port: 0\n        processes: 2", "processes > 1 needs"),
        (
            "type: preprocessor\n        port: 1\n        processingOptions: {onError: crash}",
            "processingOptions.onError",
        ),
        (
            "type: preprocessor\n        port: 1\n        processingOptions: {bufferSize: 1}",
            "processingOptions.bufferSize",
        ),
    ],
)
def test_bad_attributes_exit_2_naming_the_key(tmp_path, attrs_text, message):
    path = tmp_path / "function.yaml"
    path.write_text(
        HEAD + f"    ext:\n      kind: extproc\n      attributes:\n        {attrs_text}\n"
    )
    result = subprocess.run([DH, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr
