"""Keep the files of the chosen plugin type (a trigger or a sink), drop the other's."""

from pathlib import Path

TYPE = "{{ cookiecutter.plugin_type }}"
OTHER = "sink" if TYPE == "trigger" else "trigger"
PACKAGE = Path("src/dh_serverless") / f"{TYPE}s" / "{{ cookiecutter.__package }}"

(PACKAGE / f"{OTHER}.py").unlink()
(Path("tests") / f"test_{OTHER}.py").unlink()
