"""`ladder ui` seen through a real headless Chromium: the MLflow SPA renders the sweep.

`--dump-dom` with a virtual-time budget returns the DOM after React has rendered it, so
the test reads what a person would see. A screenshot is kept in tests/artifacts/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tracking.ui_view import view_urls
from tests.pipeline.conftest import free_port, server_env, serving

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.scenario,  # a browser on the UI, a minute: `make test-scenarios`, CI
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


def chromium(url: str, profile: Path, *action: str) -> str:
    """Load `url` headless, let the SPA run for 40 s of virtual time, then do `action`."""
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=40000",
        "--window-size=1900,1000", "--hide-scrollbars", *action, url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)
    return done.stdout


def test_the_ui_shows_the_sweep_and_its_trials(store, sweep_logger, tmp_path):
    tracker = sweep_logger(store, sweep="ui-sweep", experiment="ui-experiment")
    trial_run = MlflowClient(store).search_runs(
        [tracker.experiment_id], filter_string="tags.`ladder.trial_id` = 't_00002'"
    )[0]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "pipeline", "ui", "--port", str(port)]
    env = {**server_env(), "MLFLOW_TRACKING_URI": store}
    with serving(command, url, tmp_path / "ui.log", env):
        # MLflow 3 opens an experiment on its GenAI overview; `ladder ui` prints the saved
        # view of the latest sweep instead: its trials, and their top-1 vs MACs chart.
        printed = (tmp_path / "ui.log").read_text().splitlines()
        trials_page, chart_page = view_urls(url, tracker.experiment_id)
        assert f"latest sweep 'ui-experiment': {trials_page}" in printed
        assert f"top-1 vs MACs: {chart_page}" in printed
        dom = chromium(trials_page, tmp_path / "profile", "--dump-dom")
        assert "ui-experiment" in dom  # the experiment's name in the header
        assert "Model training" in dom and "best/val/acc1" in dom and "model/macs" in dom
        ranked = ["efficientnet_phi1", "resnet18_r32", "vgg16_r32", "lenet5_r32"]
        assert sorted(ranked, key=dom.index) == ranked  # the trials, best top-1 first
        assert ">ui-sweep<" not in dom  # the parent run is not among them

        trial_page = f"{url}/#/experiments/{tracker.experiment_id}/runs/{trial_run.info.run_id}"
        dom = chromium(trial_page, tmp_path / "profile", "--dump-dom")
        assert "efficientnet_phi1" in dom and "best/val/acc1" in dom and "ladder.arch" in dom

        ARTIFACTS.mkdir(exist_ok=True)
        for page, name in (
            (trials_page, "trials"),
            (chart_page, "top1_vs_macs"),
            (trial_page, "trial"),
        ):
            shot = ARTIFACTS / f"mlflow_ui_{name}.png"
            chromium(page, tmp_path / f"profile-{name}", f"--screenshot={shot}")
            assert shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")
