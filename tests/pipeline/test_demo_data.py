"""`ladder sweep --space demo` without --data: the demo shards in data/digits, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_modules.errors import InputError
from pipeline.cli import build_parser
from pipeline.commands.sweep import sweep_config
from pipeline.sweep.planning import plan_new


def plan_of(argv: list[str]):
    return plan_new(sweep_config(build_parser(argv).parse_args(argv)))


def test_the_demo_builds_and_uses_data_digits(tmp_path, store, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", "--space", "demo", "--name", "d1", "--storage", str(tmp_path / "s")]

    plan = plan_of(argv)
    manifest = tmp_path / "data" / "digits" / "manifest.json"
    assert plan.param_space["data"] == str(manifest.parent)
    assert "ladder shards --demo digits --out data/digits" in capsys.readouterr().out
    built = manifest.stat().st_mtime_ns

    assert plan_of([*argv[:-3], "d2", *argv[-2:]]).param_space["data"] == str(manifest.parent)
    assert manifest.stat().st_mtime_ns == built  # not built again
    assert capsys.readouterr().out == ""


def test_other_spaces_still_need_data(tmp_path, store, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", "--space", "ladder", "--storage", str(tmp_path / "s")]

    with pytest.raises(InputError, match="--data is required"):
        plan_of(argv)
    assert not Path("data").exists()
