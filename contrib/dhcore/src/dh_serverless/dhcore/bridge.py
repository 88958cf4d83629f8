"""What DH Core's ``run_handler:init_context`` / ``handler_job`` / ``handler_serve`` do.

``init_context`` reads the project (``PROJECT_NAME``) and the run (``RUN_ID``) from DH Core,
starts the run's execution, resolves its inputs, imports the user function (and its init
function) named by the run's ``source`` spec from the files DH Core wrote into ``/shared``,
sets ``context.project``, ``context.run``, ``context.user_function`` and ``context.root``,
and calls the init function with the run's ``init_parameters``.

``handler_job`` calls the user function once with the run's inputs and parameters, writes
the results into the run's status (a PUT of the run) and answers ``OK``; an exception
propagates, so the job fails (exit 1). ``handler_serve`` calls the user function per event
with ``context`` and ``event`` (when it names them) and returns what it returns.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from dh_serverless.dhcore.sdk import load_sdk, save_run

__all__ = ("SOURCE_ROOT_ENV", "handler_job", "handler_serve", "init_context")

#: Folder the user's source is imported from; the SDK's default (``/shared``) when unset.
SOURCE_ROOT_ENV = "DH_SERVERLESS_DHCORE_ROOT"

# The SDK fills process-wide registries on first use, which is not thread-safe; Nuclio ran
# each worker in its own process, dh-serverless runs them as threads: one init at a time.
_init_lock = threading.Lock()


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: DH Core sets PROJECT_NAME and RUN_ID for every run; "
            "set both to run a DH Core function by hand"
        )
    return value


def init_context(context: Any) -> None:
    """Load project, run and user function from DH Core into ``context``; run the init function.

    Workers initialise one after the other (the SDK's first use is not thread-safe).
    """
    with _init_lock:
        _init_context(context)


def _init_context(context: Any) -> None:
    context.logger.info("Initializing context...")
    sdk = load_sdk()
    project_name = _required_env(sdk.RuntimeEnvVar.PROJECT.value)
    run_id = _required_env(sdk.RuntimeEnvVar.RUN_ID.value)
    project = sdk.get_project(project_name)
    root = sdk.get_context(project.name).root
    root.mkdir(parents=True, exist_ok=True)
    run = sdk.get_run(run_id, project=project_name)

    context.logger.info("Starting execution.")
    run.start_execution()
    run.spec.inputs = run.inputs(as_dict=True)

    spec = run.spec.to_dict()
    source_root = os.environ.get(SOURCE_ROOT_ENV)
    func, init_function = sdk.import_function_and_init_from_source(
        spec.get("source") or {}, Path(source_root) if source_root else None
    )
    context.project = project
    context.run = run
    context.user_function = func
    context.root = root
    # A serve ends its execution when the worker stops, not after each request.
    context.platform.set_termination_callback(lambda: _end_execution(context))

    if init_function is not None:
        params = sdk.compose_init(init_function, context, spec.get("init_parameters") or {})
        context.logger.info("Execute user init function.")
        init_function(**params)
    context.logger.info("Context initialized.")


def _end_execution(context: Any) -> None:
    if not getattr(context, "_dh_execution_ended", False):
        context._dh_execution_ended = True
        context.run.end_execution()


def handler_job(context: Any, event: Any) -> Any:
    """Run the user function once with the run's inputs and parameters; save its results."""
    sdk = load_sdk()
    run = context.run
    spec = run.spec.to_dict()
    context.logger.info("Configuring function inputs.")
    func_args = sdk.compose_inputs(
        spec.get("inputs") or {},
        spec.get("parameters") or {},
        False,
        context.user_function,
        context.project,
        context,
        event,
    )
    try:
        project_name = context.project.name
        context.logger.info("Executing function.")
        if hasattr(context.user_function, "__wrapped__"):
            # A function decorated by the SDK's runtime parses its own outputs.
            results = context.user_function(project_name, run.key, **func_args)
        else:
            results = sdk.parse_outputs(context.user_function(**func_args), project_name, run.key)
        context.logger.info("Setting run status.")
        run.refresh()
        # The run's own status wins, as in the original: DH Core sets the final state
        # from the pod's exit code.
        run.set_status({**sdk.build_new_status(project_name, results), **run.status.to_dict()})
        save_run(run)
    finally:
        _end_execution(context)
    context.logger.info("Done.")
    return context.Response(body="OK", headers={}, content_type="text/plain", status_code=200)


def handler_serve(context: Any, event: Any) -> Any:
    """Call the user function for one event and return its result (errors answer 500)."""
    sdk = load_sdk()
    func_args = sdk.compose_inputs(
        {}, {}, False, context.user_function, context.project, context, event
    )
    return context.user_function(**func_args)
