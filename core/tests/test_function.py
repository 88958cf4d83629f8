"""load_handler: Nuclio's ``module:function`` specs, and messages that say what to fix."""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest

from dh_serverless.core.errors import HandlerLoadError
from dh_serverless.core.function import load_handler


@pytest.fixture
def folder(tmp_path):
    """tmp_path as a function folder; sys.path and sys.modules are restored afterwards."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    yield tmp_path
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


def unique(prefix: str = "mod") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def write(folder, relative: str, code: str = "") -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))


def test_module_function(folder):
    name = unique()
    write(folder, f"{name}.py", "def handler(context, event):\n    return 'hi'\n")
    loaded = load_handler(f"{name}:handler", folder)
    assert loaded.handler(None, None) == "hi"
    assert loaded.spec == f"{name}:handler"
    assert loaded.folder == folder.resolve()
    assert loaded.init_context is None
    assert not loaded.is_async


def test_package_submodule(folder):
    # checklist 1: pkg.sub:main imports pkg/sub.py and uses main
    pkg = unique("pkg")
    write(folder, f"{pkg}/__init__.py")
    write(folder, f"{pkg}/sub.py", "def main(context, event):\n    return 'sub'\n")
    loaded = load_handler(f"{pkg}.sub:main", folder)
    assert loaded.handler(None, None) == "sub"
    assert loaded.handler.__module__ == f"{pkg}.sub"


def test_dashes_in_module_names(folder):
    name = unique("my-mod").replace("_", "-")
    write(folder, f"{name}.py", "def handler(context, event):\n    return 'dash'\n")
    assert load_handler(f"{name}:handler", folder).handler(None, None) == "dash"


def test_folder_comes_first_on_sys_path(folder):
    name = unique()
    write(folder, f"{name}.py", "def handler(context, event):\n    pass\n")
    load_handler(f"{name}:handler", folder)
    assert sys.path[0] == str(folder.resolve())


def test_async_handler_is_detected(folder):
    name = unique()
    write(folder, f"{name}.py", "async def handler(context, event):\n    return 1\n")
    assert load_handler(f"{name}:handler", folder).is_async


@pytest.mark.parametrize(
    "spec",
    ["fn.handler", "fn:handler:x", "", "fn:", ":handler", "fn:handler-x", "fn mod:h", "fn:a.b"],
)
def test_malformed_specs(folder, spec):
    with pytest.raises(HandlerLoadError) as excinfo:
        load_handler(spec, folder)
    assert str(excinfo.value) == (
        f"spec.handler {spec!r} is not 'module:function' "
        "(for example 'main:handler' for a function handler in main.py)"
    )
    assert excinfo.value.exit_code == 1


def test_missing_module(folder):
    name = unique()
    with pytest.raises(HandlerLoadError) as excinfo:
        load_handler(f"{name}:handler", folder)
    assert str(excinfo.value) == (
        f"cannot import handler module {name!r}: no {name}.py in {folder.resolve()} "
        f"(spec.handler is '{name}:handler')"
    )


def test_missing_submodule(folder):
    pkg = unique("pkg")
    write(folder, f"{pkg}/__init__.py")
    with pytest.raises(HandlerLoadError, match=f"no {pkg}/missing.py in "):
        load_handler(f"{pkg}.missing:handler", folder)


def test_module_importing_a_missing_library_is_not_reported_as_missing(folder):
    # The handler module's name starts with the missing library's name.
    library = unique("lib")
    name = f"{library}_handler"
    write(folder, f"{name}.py", f"import {library}\n\ndef handler(context, event):\n    pass\n")
    with pytest.raises(HandlerLoadError) as excinfo:
        load_handler(f"{name}:handler", folder)
    assert str(excinfo.value) == (
        f"importing handler module {name!r} raised ModuleNotFoundError: No module named {library!r}"
    )


def test_missing_function_lists_the_functions_found(folder):
    name = unique()
    code = """\
        import os
        from json import dumps

        VALUE = 3

        class Model:
            pass

        def handler_v2(context, event):
            pass

        def helper():
            pass

        def _private():
            pass
    """
    write(folder, f"{name}.py", code)
    with pytest.raises(HandlerLoadError) as excinfo:
        load_handler(f"{name}:handler", folder)
    assert str(excinfo.value) == (
        f"module {name!r} has no function 'handler' (functions found: dumps, handler_v2, helper)"
    )


def test_missing_function_in_an_empty_module(folder):
    name = unique()
    write(folder, f"{name}.py", "VALUE = 1\n")
    with pytest.raises(
        HandlerLoadError, match=r"has no function 'handler' \(functions found: none\)"
    ):
        load_handler(f"{name}:handler", folder)


def test_attribute_that_is_not_callable(folder):
    name = unique()
    write(folder, f"{name}.py", "handler = 5\n")
    with pytest.raises(HandlerLoadError, match="has no function 'handler'"):
        load_handler(f"{name}:handler", folder)


def test_module_raising_at_import(folder):
    name = unique()
    write(folder, f"{name}.py", "raise RuntimeError('kaput')\n")
    with pytest.raises(HandlerLoadError) as excinfo:
        load_handler(f"{name}:handler", folder)
    assert str(excinfo.value) == (f"importing handler module {name!r} raised RuntimeError: kaput")
    assert "Traceback" not in str(excinfo.value)


def test_module_raising_at_import_with_debug_shows_the_traceback(folder):
    name = unique()
    write(folder, f"{name}.py", "raise RuntimeError('kaput')\n")
    with pytest.raises(HandlerLoadError) as excinfo:
        load_handler(f"{name}:handler", folder, debug=True)
    text = str(excinfo.value)
    assert text.startswith(f"importing handler module {name!r} raised RuntimeError: kaput\n")
    assert "Traceback (most recent call last):" in text
    assert f"{name}.py" in text


def test_module_with_a_syntax_error(folder):
    name = unique()
    write(folder, f"{name}.py", "def handler(context, event)\n    pass\n")
    with pytest.raises(
        HandlerLoadError, match=f"importing handler module '{name}' raised SyntaxError"
    ):
        load_handler(f"{name}:handler", folder)


def test_module_calling_sys_exit_at_import(folder):
    name = unique()
    write(folder, f"{name}.py", "import sys\nsys.exit(3)\n")
    with pytest.raises(HandlerLoadError, match="raised SystemExit: 3"):
        load_handler(f"{name}:handler", folder)


def test_init_context_comes_from_the_module_defining_the_handler(folder):
    # checklist 8: main.py does `from lib import handler`; lib.init_context runs.
    lib, main = unique("lib"), unique("main")
    write(
        folder,
        f"{lib}.py",
        """\
        def init_context(context):
            context.origin = "lib"

        def handler(context, event):
            return context.origin
        """,
    )
    write(
        folder,
        f"{main}.py",
        f"""\
        from {lib} import handler

        def init_context(context):
            context.origin = "main"

        def own(context, event):
            return context.origin
        """,
    )
    loaded = load_handler(f"{main}:handler", folder)
    assert loaded.init_context is sys.modules[lib].init_context
    assert load_handler(f"{main}:own", folder).init_context is sys.modules[main].init_context


def test_init_context_that_is_not_callable_is_ignored(folder):
    name = unique()
    write(folder, f"{name}.py", "init_context = None\n\ndef handler(context, event):\n    pass\n")
    assert load_handler(f"{name}:handler", folder).init_context is None


def test_module_is_imported_once(folder):
    name = unique()
    write(
        folder,
        f"{name}.py",
        "import builtins\nbuiltins.__dict__.setdefault('_dh_imports', []).append(1)\n"
        "def handler(context, event):\n    pass\n",
    )
    import builtins

    try:
        load_handler(f"{name}:handler", folder)
        load_handler(f"{name}:handler", folder)
        assert builtins._dh_imports == [1]
    finally:
        builtins.__dict__.pop("_dh_imports", None)
