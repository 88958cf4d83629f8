"""{{ cookiecutter.__distribution }}: {{ cookiecutter.description }}.

``pyproject.toml`` registers :class:`{{ cookiecutter.__class_name }}` in the
``dh_serverless.{{ cookiecutter.plugin_type }}s`` entry-point group under the name
``{{ cookiecutter.kind }}``: a ``function.yaml`` that names ``kind: {{ cookiecutter.kind }}``
makes the core load it (and no other plugin).
"""

from __future__ import annotations

from dh_serverless.{{ cookiecutter.plugin_type }}s.{{ cookiecutter.__package }}.{{ cookiecutter.plugin_type }} import (
    {{ cookiecutter.__class_name }},
    {{ cookiecutter.__class_name }}Attributes,
)
from dh_serverless.{{ cookiecutter.plugin_type }}s.{{ cookiecutter.__package }}.version import __version__

__all__ = ("{{ cookiecutter.__class_name }}", "{{ cookiecutter.__class_name }}Attributes", "__version__")
