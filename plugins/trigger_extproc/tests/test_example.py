"""contrib/examples/extproc as the README runs it (ports made free for the test)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import yaml


def test_example_wraps_a_service_behind_envoy(fresh_stack, harness):
    example = harness.ROOT / "contrib" / "examples" / "extproc"
    with fresh_stack() as s:
        for name in ("test_handler.py", "echo.py"):
            shutil.copy(example / name, s.folder / name)
        echo_port = harness.free_port()
        echo = subprocess.Popen([sys.executable, str(s.folder / "echo.py"), str(echo_port)])
        s.started.append(harness.Stopper(echo))
        harness.wait_port(echo_port, echo)
        config = yaml.safe_load((example / "function.yaml").read_text())
        port = harness.free_port()
        config["spec"]["triggers"]["myextproctrigger"]["attributes"]["port"] = port
        processor = harness.Processor(
            s.folder, "wrapprocessor", port=port, yaml_text=yaml.safe_dump(config)
        )
        s.started.append(processor)
        envoy_config = harness.envoy_config(
            "wrapprocessor",
            listener=harness.free_port(),
            admin=harness.free_port(),
            upstream=echo_port,
            processors=[port],
        )
        envoy = harness.Envoy(envoy_config, s.folder)
        s.started.append(envoy)

        reply = envoy.request(
            "POST", "/resource", body=b"hello", headers={"Content-type": "text/plain"}
        )
        assert reply.status == 200
        text = reply.body.decode()
        assert text.endswith(" - postprocessed")
        assert json.loads(text.removesuffix(" - postprocessed"))["Body"] == "hello - preprocessed"
        assert "dh_extproc_messages_total" in processor.metrics()
