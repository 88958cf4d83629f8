"""What Nuclio's platform and builder do to a function.yaml: the default http trigger,
inline configuration in a handler file, and ``spec.build``."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.core.config import (
    DEFAULT_HTTP_PORT_ENV,
    DEFAULT_HTTP_TRIGGER,
    load_function_config,
)
from dh_serverless.core.errors import ConfigError
from dh_serverless.core.inline import inline_blocks, inline_function_config


def write(tmp_path: Path, text: str, name: str = "function.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def spec(triggers: str = "", extra: str = "") -> str:
    text = "apiVersion: nuclio.io/v1\nkind: NuclioFunction\nspec:\n  handler: main:handler\n"
    if extra:
        text += textwrap.indent(textwrap.dedent(extra).strip(), "  ") + "\n"
    if triggers:
        text += "  triggers:\n" + textwrap.indent(textwrap.dedent(triggers).strip(), "    ") + "\n"
    return text


# ---------------------------------------------------------------------------
# The default http trigger
# ---------------------------------------------------------------------------


def test_a_function_without_triggers_gets_nuclios_default_http_trigger(tmp_path):
    config = load_function_config(write(tmp_path, spec()))
    trigger = config.spec.triggers[DEFAULT_HTTP_TRIGGER]
    assert (trigger.kind, trigger.workers, trigger.attributes) == ("http", 1, {})


def test_disable_default_http_trigger_leaves_a_cron_function_alone(tmp_path):
    text = spec("tick: {kind: cron, attributes: {interval: 1s}}", "disableDefaultHTTPTrigger: true")
    assert list(load_function_config(write(tmp_path, text)).spec.triggers) == ["tick"]


def test_a_cron_function_gets_the_default_http_trigger_when_it_asks_as_nuclio_writes_it(
    tmp_path,
):
    text = spec(
        "tick: {kind: cron, attributes: {interval: 1s}}", "disableDefaultHTTPTrigger: false"
    )
    assert list(load_function_config(write(tmp_path, text)).spec.triggers) == [
        "tick",
        DEFAULT_HTTP_TRIGGER,
    ]


def test_a_cron_function_that_does_not_ask_gets_no_listener(tmp_path):
    text = spec("tick: {kind: cron, attributes: {interval: 1s}}")
    assert list(load_function_config(write(tmp_path, text)).spec.triggers) == ["tick"]


@pytest.mark.parametrize(
    "triggers",
    [
        "api: {kind: http, maxWorkers: 4}",
        "api: {kind: http, disabled: true}",
        "job: {kind: job}",
        "oi: {kind: openinference, attributes: {rest_port: 8080}}",
        "guard: {kind: extproc, attributes: {port: 5051}}",
        "tick: {kind: cron, attributes: {interval: 1s}}\njob: {kind: job}",
    ],
)
def test_no_default_http_trigger_beside_http_or_a_dh_serverless_trigger(tmp_path, triggers):
    # Even when asked for, as Nuclio's examples write it.
    config = load_function_config(
        write(tmp_path, spec(triggers, "disableDefaultHTTPTrigger: false"))
    )
    assert DEFAULT_HTTP_TRIGGER not in config.spec.triggers


def test_the_processor_reads_its_file_as_already_completed_by_the_platform(tmp_path):
    cron = write(
        tmp_path,
        spec("tick: {kind: cron, attributes: {interval: 1s}}", "disableDefaultHTTPTrigger: false"),
    )
    assert list(load_function_config(cron, processor=True).spec.triggers) == ["tick"]
    assert DEFAULT_HTTP_TRIGGER in load_function_config(cron).spec.triggers
    bare = write(tmp_path, spec(), "bare.yaml")
    assert DEFAULT_HTTP_TRIGGER in load_function_config(bare, processor=True).spec.triggers


def test_the_default_http_port_moves_with_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DEFAULT_HTTP_PORT_ENV, "18080")
    config = load_function_config(write(tmp_path, spec()))
    assert config.spec.triggers[DEFAULT_HTTP_TRIGGER].attributes == {"port": 18080}
    monkeypatch.setenv(DEFAULT_HTTP_PORT_ENV, "80x")
    with pytest.raises(ConfigError, match="expected a port number"):
        load_function_config(write(tmp_path, spec()))


# ---------------------------------------------------------------------------
# spec.build
# ---------------------------------------------------------------------------


def test_spec_build_is_accepted_and_logged_once_naming_its_keys(tmp_path, caplog):
    text = spec(extra="build:\n  baseImage: python:3.9-buster\n  commands: ['pip install x']")
    with caplog.at_level(logging.WARNING, logger="dh_serverless.config"):
        config = load_function_config(write(tmp_path, text))
    assert config.spec.build == {"baseImage": "python:3.9-buster", "commands": ["pip install x"]}
    (record,) = [r for r in caplog.records if "spec.build" in r.getMessage()]
    assert record.getMessage().startswith(
        "spec.build (baseImage, commands) is accepted and not run"
    )


# ---------------------------------------------------------------------------
# Inline configuration (# @nuclio.configure)
# ---------------------------------------------------------------------------

INLINE = """\
#!/usr/bin/env python3
# @nuclio.configure
#
# function.yaml:
#   apiVersion: "nuclio.io/v1"
#   kind: "NuclioFunction"
#   metadata:
#     name: inline-fn
#   spec:
#     runtime: "python"
#     triggers:
#       api:
#         kind: http
#         numWorkers: 3
#         attributes:
#           port: 18081

import os


def handler(context, event):
    return "inline"
"""


def test_inline_block_configures_the_function_and_the_handler_defaults_to_the_file(tmp_path):
    config = load_function_config(write(tmp_path, INLINE, "scorer.py"))
    assert config.metadata.name == "inline-fn"
    assert config.spec.handler == "scorer:handler"
    api = config.spec.triggers["api"]
    assert (api.kind, api.workers, api.attributes) == ("http", 3, {"port": 18081})


def test_a_handler_file_without_a_block_is_a_default_http_function(tmp_path):
    config = load_function_config(
        write(tmp_path, "def handler(context, event):\n    pass\n", "h.py")
    )
    assert config.spec.handler == "h:handler"
    assert list(config.spec.triggers) == [DEFAULT_HTTP_TRIGGER]


def test_an_explicit_inline_handler_wins(tmp_path):
    text = "# @nuclio.configure\n# function.yaml:\n#   spec:\n#     handler: other:main\nx = 1\n"
    assert load_function_config(write(tmp_path, text, "h.py")).spec.handler == "other:main"


def test_a_block_that_ends_the_file_is_read(tmp_path):
    text = "x = 1\n# @nuclio.configure\n# function.yaml:\n#   metadata: {name: last}"
    assert load_function_config(write(tmp_path, text, "h.py")).metadata.name == "last"


def test_nuclios_invalid_inline_config_is_an_error_naming_the_line(tmp_path):
    # Nuclio's own test function test/_functions/common/invalid-inline-config/python.
    text = (
        "# @nuclio.configure\n#\n# function.yaml:\n#   spec:\n#     runtime:python\n"
        "#     handler: parser:handler\n#     build:\n#       commands:\n"
        "#       - pip install simplejson\n#\n\nimport simplejson\n"
    )
    with pytest.raises(ConfigError) as excinfo:
        load_function_config(write(tmp_path, text, "parser.py"))
    (problem,) = excinfo.value.problems
    assert problem.startswith("line 6 ('#     handler: parser:handler'): the '# @nuclio.configure'")
    assert "is not valid YAML" in problem
    assert excinfo.value.exit_code == 2


def test_an_unclosed_bracket_names_the_line_it_opened_on(tmp_path):
    text = (
        "# @nuclio.configure\n# function.yaml:\n#   spec:\n#     handler: [oops\n"
        "#     env: []\nx = 1\n"
    )
    with pytest.raises(ConfigError) as excinfo:
        load_function_config(write(tmp_path, text, "h.py"))
    (problem,) = excinfo.value.problems
    assert problem.startswith("line 5 ('#     env: []')")
    assert "while parsing a flow sequence at line 4: '#     handler: [oops'" in problem


def test_function_yaml_that_is_not_a_mapping_names_its_line(tmp_path):
    text = "# @nuclio.configure\n#\n# function.yaml: 3\nx = 1\n"
    with pytest.raises(ConfigError) as excinfo:
        load_function_config(write(tmp_path, text, "h.py"))
    assert excinfo.value.problems[0].startswith("line 3: 'function.yaml:'")


def test_unknown_inline_keys_name_the_key_path(tmp_path):
    text = "# @nuclio.configure\n# function.yaml:\n#   spec:\n#     handlr: h:handler\nx = 1\n"
    with pytest.raises(ConfigError, match=r"spec\.handlr"):
        load_function_config(write(tmp_path, text, "h.py"))


def test_blocks_follow_nuclios_rules():
    text = "#  @nuclio.createFiles\n#a\n# b\n  # not a comment in column 0\n# @nuclio.configure\n"
    blocks = inline_blocks(text)
    assert sorted(blocks) == ["configure", "createFiles"]
    # The comment character and the one character after it are dropped.
    assert blocks["createFiles"].text == ["", "b"]
    assert blocks["configure"].text == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["# @nuclio.configure", "# function.yaml:", "#   spec: {", "#   - x", "#", "x = 1"]
            ),
            st.text(max_size=30).map(lambda t: "# " + t.replace("\n", " ")),
            st.text(max_size=30).map(lambda t: t.replace("\n", " ")),
        ),
        max_size=12,
    )
)
def test_any_handler_file_gives_a_config_or_a_config_error(tmp_path, lines):
    path = tmp_path / "fuzz.py"
    path.write_text("\n".join(lines), encoding="utf-8")
    problems: list[str] = []
    try:
        result = inline_function_config(path)
    except ConfigError as exc:
        problems = exc.problems
        result = None
    assert result is None or isinstance(result, dict)
    assert all(p.startswith("line ") for p in problems)
