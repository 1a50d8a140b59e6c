"""Settings files (a recipe, a sweep) in YAML or JSON: read, and written back unchanged.

YAML 1.1, which PyYAML reads, takes `1e-4` for a string (a float needs a dot: `1.0e-4`).
Researchers write `lr: 1e-4`, so the loader here reads every YAML 1.2 number as one.
JSON is YAML, so one reader serves both; what is written is YAML that reads back equal.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from lightning_modules.errors import InputError

SETTINGS_SUFFIXES = (".yaml", ".yml", ".json")
_FLOAT = re.compile(
    r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|[-+]\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _Loader(yaml.SafeLoader):
    """SafeLoader whose floats are YAML 1.2's: `1e-4` is a number."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def is_settings_file(text: str) -> bool:
    """Whether a flag's value names a settings file rather than a built-in name."""
    return text.endswith(SETTINGS_SUFFIXES) or "/" in text


def parse_yaml(text: str, source: str) -> Any:
    """YAML (or JSON) text as Python values; InputError naming `source` and the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InputError(f"{source}:{where}: not YAML or JSON ({problem})") from None


def read_settings(path: str | Path) -> dict[str, Any]:
    """The mapping a settings file holds; InputError naming the file otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    values = parse_yaml(text, str(path))
    if not isinstance(values, dict):
        raise InputError(f"{path}: expected a mapping of settings (key: value), got {values!r}")
    return values


class _Dumper(yaml.SafeDumper):
    """Sections as blocks, a line per setting; a list of plain values, and a small mapping
    of them (a distribution such as `{uniform: [0.5, 1.5]}`), on one line."""

    def represent_mapping(self, tag, mapping, flow_style=None):
        small = len(mapping) <= 2 and all(_plain(value) for value in mapping.values())
        return super().represent_mapping(tag, mapping, flow_style=small)

    def represent_sequence(self, tag, sequence, flow_style=None):
        return super().represent_sequence(tag, sequence, all(map(_plain, sequence)))


def _plain(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple)) or (
        isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value)
    )


def to_yaml(values: dict[str, Any]) -> str:
    """`values` as YAML in their own key order, which `parse_yaml` reads back equal."""
    return yaml.dump(values, Dumper=_Dumper, sort_keys=False, width=100)
