"""The plugin docs stay honest: every hook documented with its exact signature, and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from dh_serverless.hookspecs import specs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(n for n, f in vars(specs).items() if n.startswith("dh_") and inspect.isfunction(f))


def test_every_hook_has_a_docstring_naming_each_parameter():
    for name in HOOKS:
        doc = inspect.getdoc(getattr(specs, name)) or ""
        for param in inspect.signature(getattr(specs, name)).parameters:
            assert f":param {param}:" in doc, f"{name} does not document {param}"
        assert ":return:" in doc, f"{name} does not document its return"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_signature(name):
    params = ", ".join(inspect.signature(getattr(specs, name)).parameters)
    docs = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    assert f"### `{name}({params})`" in docs


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    sources = [p.read_text() for p in ROOT.glob("**/tests/test_*.py") if ".venv" not in p.parts]
    assert any(re.search(rf"def test_hook_{name}\b", s) for s in sources), f"no test_hook_{name}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_configuration_links_every_plugins_attribute_table():
    """docs/configuration.md links each plugin folder's README at a heading that exists."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    links = re.findall(r"\]\(\.\./((?:contrib/)?plugins/[^/)]+)/README\.md#([\w-]+)\)", text)
    linked = {folder for folder, _ in links}
    folders = {
        str(p.parent.relative_to(ROOT))
        for pattern in ("plugins/*/README.md", "contrib/plugins/*/README.md")
        for p in ROOT.glob(pattern)
    }
    assert folders <= linked, f"docs/configuration.md: link {sorted(folders - linked)}"
    for folder, anchor in links:
        readme = ROOT / folder / "README.md"
        if not readme.exists():
            continue  # a plugin another branch adds; checked once its folder is here
        headings = re.findall(r"^#{2,4} (.+)$", readme.read_text(), flags=re.M)
        assert anchor in {_anchor(h) for h in headings}, f"{folder}/README.md has no #{anchor}"


SNIPPET_DOCS = ("docs/writing-a-plugin.md", "hookspecs/README.md")


def _python_blocks(doc: str) -> list[tuple[int, str]]:
    """The ```python blocks of ``doc`` with the line each starts at."""
    blocks, current, start = [], None, 0
    for number, line in enumerate((ROOT / doc).read_text().splitlines(), 1):
        if current is None and line.strip() == "```python":
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            blocks.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


SNIPPETS = [(doc, line, code) for doc in SNIPPET_DOCS for line, code in _python_blocks(doc)]


@pytest.mark.parametrize(
    ("doc", "line", "code"), SNIPPETS, ids=[f"{d}:{n}" for d, n, _ in SNIPPETS]
)
def test_every_python_snippet_of_the_plugin_docs_runs(doc, line, code, tmp_path, monkeypatch):
    """Each block runs as written, on its own (imports included), its asserts holding."""
    monkeypatch.chdir(tmp_path)
    compiled = compile(code, f"{doc}:{line}", "exec")
    exec(compiled, {"__name__": f"snippet_{line}"})


def test_the_plugin_docs_have_snippets_to_run():
    assert len(_python_blocks("docs/writing-a-plugin.md")) >= 7
    assert len(_python_blocks("hookspecs/README.md")) >= 2


LINKED_DOCS = (
    "README.md",
    "hookspecs/README.md",
    "core/README.md",
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").glob("*.md"))),
)


@pytest.mark.parametrize("doc", LINKED_DOCS)
def test_every_relative_link_of_the_docs_leads_somewhere(doc):
    """A link to a file names one that exists; a link to a heading names one that exists."""
    source = ROOT / doc
    text = source.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        assert linked.exists(), f"{doc}: link to {target}: no such file"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#{1,6} (.+)$", linked.read_text(), flags=re.M)
            assert anchor in {_anchor(h) for h in headings}, f"{doc}: link to {target}: no heading"


def test_the_core_readme_lists_the_whole_plugin_api():
    """core/README.md's table of dh_serverless.core.api names exactly its ``__all__``."""
    from dh_serverless.core import api

    text = (ROOT / "core" / "README.md").read_text()
    section = text.split("## The plugin API", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in re.findall(r"^\| (.+?) \| .+ \|$", section, flags=re.M):
        listed.update(re.findall(r"`(\w+)`", row))
    assert listed - {"name"} == set(api.__all__)
