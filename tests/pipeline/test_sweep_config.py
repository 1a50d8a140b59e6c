"""A sweep as a file: `--print-config` and `--config` round-trip, a user's space, every
distribution and search, and bad files as one line naming the file and the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_modules.errors import InputError
from pipeline.cli import build_parser, main
from pipeline.commands.sweep import sweep_config
from pipeline.sweep.config import read_config
from pipeline.sweep.plan import CONFIG_FILE, SweepPlan
from pipeline.sweep.planning import plan_new
from pipeline.sweep.search import drawn_trials

USER_FILE = """\
# width or depth at 32 px? two families, the learning rate searched too
space:
  models:
    - arch: {choice: [efficientnet, mobilenetv2]}
      width: {uniform: [0.25, 0.5]}
      resolution: 32
      stem: cifar
  recipe: {from: demo, lr: {loguniform: [1e-3, 1e-2]}, epochs: 2}
seeds: 2
search: {algorithm: random, samples: 3}
scheduler: {name: asha, grace_period: 1, reduction_factor: 2}
"""

EVERY_DISTRIBUTION = """\
space:
  models:
    - arch: efficientnet
      width: {uniform: [0.5, 1.0], q: 0.25}
      depth: {grid: [1.0, 2.0]}
      resolution: {randint: [32, 40]}
      stem: {choice: [cifar]}
  recipe:
    lr: {loguniform: [1e-4, 1e-2]}
    weight_decay: {uniform: [0.0, 1e-4]}
    batch_size: {randint: [16, 64], q: 16}
search: {algorithm: random, samples: 4, seed: 7}
"""


def plan_of(argv: list[str]) -> SweepPlan:
    return plan_new(sweep_config(build_parser(["sweep", *argv]).parse_args(["sweep", *argv])))


def test_print_config_goes_back_in_unchanged(tmp_path, capsys):
    """A built-in space printed as a file, read back and printed again: the same text."""
    assert main(["sweep", "--space", "ladder", "--set", "archs=lenet5,alexnet",
                 "--seeds", "2", "--print-config"]) == 0  # fmt: skip
    first = tmp_path / "first.yaml"
    first.write_text(capsys.readouterr().out)
    assert main(["sweep", "--config", str(first), "--print-config"]) == 0
    assert capsys.readouterr().out == first.read_text()
    config = read_config(first)
    assert [m["arch"] for m in config.space.models] == ["lenet5", "alexnet"]
    assert config.seeds == 2 and config.label == "ladder"


def test_a_users_file_plans_the_same_trials_from_its_saved_copy(digits_shards, tmp_path):
    """12 draws of two families: seeded, checked, named by what they vary, and the copy a
    sweep keeps gives the same trials under a new name."""
    (tmp_path / "mine.yaml").write_text(USER_FILE)
    argv = ["--config", str(tmp_path / "mine.yaml"), "--data", str(digits_shards),
            "--storage", str(tmp_path / "sweeps"), "--name", "first"]  # fmt: skip
    plan = plan_of(argv)
    trials = plan.trials()
    assert len(trials) == 3 * 2 and plan.seeds == 2
    assert [t.seed for t in trials] == [0, 0, 0, 1, 1, 1]
    assert {t.model.resolution for t in trials} == {32}
    assert all(0.25 <= t.model.width <= 0.5 and 1e-3 <= t.recipe.lr <= 1e-2 for t in trials)
    assert {t.recipe.epochs for t in trials} == {2} and plan.epochs == 2
    assert plan.varied_recipe_keys == ("lr",)
    plan.save()
    saved = tmp_path / "sweeps" / "first" / CONFIG_FILE
    again = plan_of(["--config", str(saved), "--name", "second"])
    assert again.trials() == trials
    assert again.sweep_config.scheduler.name == "asha"


def test_every_distribution_draws_within_its_range(digits_shards):
    config = read_config_text(EVERY_DISTRIBUTION, digits_shards)
    trials = drawn_trials(config)
    assert len(trials) == 4 * 2  # samples x the depth grid
    assert [t.model.depth for t in trials[:2]] == [1.0, 2.0]
    assert {t.model.width for t in trials} <= {0.5, 0.75, 1.0}
    assert all(32 <= t.model.resolution < 40 for t in trials)
    assert {t.recipe.batch_size for t in trials} <= {16, 32, 48, 64}
    assert all(1e-4 <= t.recipe.lr <= 1e-2 and 0 <= t.recipe.weight_decay <= 1e-4 for t in trials)
    assert len({t.recipe.lr for t in trials}) > 1  # drawn, not repeated
    assert drawn_trials(config) == trials  # the same seed, the same draws


def read_config_text(text: str, data: Path):
    from lightning_modules.settings_files import parse_yaml
    from pipeline.sweep.config import config_of

    return config_of({**parse_yaml(text, "t"), "data": str(data)}, "t")


def test_optuna_plans_a_study_and_prices_random_stand_ins(digits_shards, tmp_path):
    (tmp_path / "o.yaml").write_text(USER_FILE.replace("algorithm: random", "algorithm: optuna"))
    plan = plan_of(["--config", str(tmp_path / "o.yaml"), "--data", str(digits_shards),
                    "--storage", str(tmp_path)])  # fmt: skip
    assert plan.trials() == []  # proposed as results come in
    from pipeline.sweep.launch import param_space

    space = param_space(plan)
    lr = space["recipe"]["lr"]  # a Tune domain, sampled log-uniformly
    assert (lr.lower, lr.upper) == (1e-3, 1e-2) and "LogUniform" in type(lr.sampler).__name__
    assert space["data"] == str(digits_shards)
    from pipeline.sweep.search import searcher

    assert type(searcher(plan.sweep_config)).__name__ == "Repeater"  # seeds: 2


BAD_FILES = {
    "unknown key": ("serch: {}", ["serch", "unknown key", "search"]),
    "unknown model key": ("space: {models: [{arch: lenet5, widht: 2}]}", ["widht", "width"]),
    "a list, not a distribution": ("space: {models: [{arch: lenet5}], recipe: {lr: [1, 2]}}",
                                   ["space.recipe.lr", "grid", "choice"]),
    "an unknown distribution": ("space: {models: [{arch: lenet5}], recipe: {lr: {normal: [0, 1]}}}",
                                ["space.recipe.lr", "normal"]),
    "a reversed range": ("space: {models: [{arch: efficientnet, width: {uniform: [2, 1]}}]}",
                         ["width", "low < high"]),
    "log of zero": ("space: {models: [{arch: lenet5}], recipe: {lr: {loguniform: [0, 1]}}}",
                    ["lr", "low > 0"]),
    "zero samples": ("space: {models: [{arch: lenet5}]}\nsearch: {samples: 0}",
                     ["search.samples", "greater than or equal to 1"]),
    "a wrong type": ("space: {models: [{arch: lenet5}]}\nseeds: many", ["seeds", "integer"]),
    "no models": ("space: {models: []}", ["space.models", "at least 1"]),
    "not YAML": ("space: [", ["not YAML"]),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(case, tmp_path, capsys):
    text, words = BAD_FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["sweep", "--config", str(path), "--print-config"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], lines
    assert all(word in lines[0] for word in words), lines[0]


PLAN_ERRORS = {
    "grid with a distribution": ("search: {algorithm: grid}", ["grid", "model.arch", "random"]),
    "a value the architecture refuses": ("space: {models: [{arch: lenet5, width: 2.0}]}\n",
                                         ["lenet5", "width"]),
    "a range past a recipe's bound": (
        "space: {models: [{arch: lenet5}], recipe: {momentum: {uniform: [0.5, 1.5]}}}\n"
        "search: {algorithm: random, samples: 20}", ["recipe.momentum", "in [0, 1)"]),
    "optuna with a grid": (
        "space: {models: [{arch: lenet5}], recipe: {lr: {grid: [0.1, 0.2]}}}\n"
        "search: {algorithm: optuna}", ["optuna", "recipe.lr"]),
}  # fmt: skip


@pytest.mark.parametrize("case", PLAN_ERRORS)
def test_what_the_plan_checks_applies_to_a_users_file(case, digits_shards, tmp_path):
    path = tmp_path / "f.yaml"
    text, words = PLAN_ERRORS[case]
    if not text.startswith("space"):
        text = USER_FILE.replace("search: {algorithm: random, samples: 3}", text)
    path.write_text(text)
    with pytest.raises(InputError) as error:
        plan_of(["--config", str(path), "--data", str(digits_shards), "--storage", str(tmp_path)])
    assert all(word in str(error.value) for word in words), str(error.value)


def test_a_python_space_file_and_its_settings(digits_shards, tmp_path):
    (tmp_path / "my_space.py").write_text(
        "from tune_spaces import SearchSpace\n\n"
        "def space(**settings):\n"
        "    depth = float(settings.get('depth', '1.0'))\n"
        "    return SearchSpace(models=[{'arch': 'efficientnet', 'depth': depth,\n"
        "                                'resolution': 32, 'stem': 'cifar'}],\n"
        "                       recipe={'from': 'demo', 'epochs': 1})\n"
    )
    plan = plan_of(["--space", str(tmp_path / "my_space.py"), "--set", "depth=1.5",
                    "--data", str(digits_shards), "--storage", str(tmp_path)])  # fmt: skip
    (trial,) = plan.trials()
    assert trial.model.depth == 1.5 and trial.recipe.epochs == 1 and plan.space == "my_space"
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(InputError, match="defines no function space"):
        plan_of(["--space", str(tmp_path / "empty.py"), "--data", str(digits_shards)])


def test_print_config_of_a_file_imports_no_torch_ray_or_mlflow(tmp_path):
    """A light command: what it imports decides how fast it starts."""
    (tmp_path / "mine.yaml").write_text(USER_FILE)
    code = ("import sys; from pipeline.cli import main; "
            f"main(['sweep', '--config', {str(tmp_path / 'mine.yaml')!r}, '--print-config']); "
            "print(sorted({'torch', 'ray', 'mlflow'} & set(sys.modules)))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "algorithm: random" in done.stdout


@pytest.mark.slow
def test_a_users_random_search_runs_to_the_leaderboard_and_mlflow(
    digits_shards, store, tmp_path, capsys
):
    """The README's file, smaller: 3 draws of two families x 2 seeds under ASHA, every
    trial in MLflow with its drawn settings as params, the seeds of a point one row."""
    from tests.pipeline.sweeps import sweep, sweep_env, trial_runs

    (tmp_path / "mine.yaml").write_text(USER_FILE)
    args = ["--config", str(tmp_path / "mine.yaml"), "--data", str(digits_shards),
            "--storage", str(tmp_path / "sweeps"), "--name", "mine"]  # fmt: skip
    output = sweep(args, sweep_env(MLFLOW_TRACKING_URI=store), tmp_path / "sweep.log")
    assert "6 trials of random search over space mine (3 points x seeds 0..1)" in output
    plan = SweepPlan.from_json((tmp_path / "sweeps" / "mine" / "ladder_sweep.json").read_text())
    runs = trial_runs(store, "mine")
    assert len(runs) == 6
    drawn = {(t.model.arch, t.model.width, t.recipe.lr, t.seed) for t in plan.trials()}
    logged = {(r.data.params["arch"], float(r.data.params["width"]), float(r.data.params["lr"]),
               int(r.data.params["seed"])) for r in runs.values()}  # fmt: skip
    assert logged == drawn
    assert {r.data.tags["ladder.status"] for r in runs.values()} <= {"finished", "stopped"}
    assert main(["leaderboard", "--experiment", "mine", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {row["n"] for row in rows} <= {1, 2}
    assert all(sorted(row["seeds"]) == [0, 1] for row in rows)


def test_the_readmes_sweep_file_plans_the_trials_it_says(digits_shards, tmp_path):
    """README, "Your own sweep": its file reads, and draws 12 points x 2 seeds."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Your own sweep", 1)[1]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my_sweep.yaml").write_text(text)
    config = read_config(tmp_path / "my_sweep.yaml")
    trials = drawn_trials(config.model_copy(update={"data": str(digits_shards)}))
    assert len(trials) == 24 and "the 24 trials" in section
    assert {t.model.arch for t in trials} == {"efficientnet", "mobilenetv2"}
    assert config.scheduler.name == "asha" and len(text.splitlines()) <= 20


@pytest.mark.parametrize(
    "written",
    [{"uniform": [0.5, 1.5]}, {"loguniform": [1e-4, 1e-2]}, {"randint": [16, 64]},
     {"uniform": [0.5, 1.5], "q": 0.25}, {"loguniform": [1e-4, 1e-2], "q": 1e-4},
     {"randint": [16, 64], "q": 16}, {"choice": ["a", "b", "c"]}],
)  # fmt: skip
def test_a_draw_is_distributed_as_tunes_domain_draws(written):
    """The plan's draws (numpy, no Tune imported) against Tune's own domain: the same
    values possible, and the same mean and spread over 4,000 draws."""
    import numpy as np

    from tune_spaces.search_space import Distribution

    distribution = Distribution.model_validate(written)
    ours = [distribution.draw(np.random.default_rng(k)) for k in range(4000)]
    tunes = distribution.domain().sample(size=4000, random_state=np.random.default_rng(7))
    if "choice" in written:
        assert set(ours) == set(tunes) == set(written["choice"])
        return
    ours, tunes = np.asarray(ours, dtype=float), np.asarray(tunes, dtype=float)
    if "q" in written:
        assert set(np.round(ours / written["q"], 6)) <= set(np.round(tunes / written["q"], 6))
    moments = (ours.mean(), ours.std()), (tunes.mean(), tunes.std())
    assert np.allclose(*moments, rtol=0.08), moments


def test_flags_and_set_override_the_file(tmp_path, capsys):
    (tmp_path / "mine.yaml").write_text(USER_FILE)
    argv = ["sweep", "--config", str(tmp_path / "mine.yaml"), "--samples", "5", "--seeds", "1",
            "--scheduler", "fifo", "--name", "2024", "--set", "lr=0.5", "--set",
            "resources.max_concurrent=3", "--epochs", "4", "--print-config"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    (tmp_path / "printed.yaml").write_text(printed)
    config = read_config(tmp_path / "printed.yaml")
    assert (config.search.samples, config.seeds, config.scheduler.name) == (5, 1, "fifo")
    assert config.name == "2024" and config.resources.max_concurrent == 3
    assert config.space.recipe["lr"] == 0.5 and config.space.recipe["epochs"] == 4


BAD_FLAGS = {
    "zero samples": (["--samples", "0"], "--samples 0: Input should be greater than or equal to 1"),
    "negative samples": (["--samples", "-3"], "--samples -3:"),
    "huge samples": (["--samples", "10000000"], "--samples 10000000: Input should be less"),
    "text samples": (["--samples", "abc"], "--samples: invalid int value: 'abc'"),
    "zero cpus": (["--cpus-per-worker", "0"], "--cpus-per-worker 0.0: Input should be greater"),
    "a --set of the wrong type": (["--set", "search.samples=abc"], "--set search.samples 'abc'"),
    "a --set out of range": (["--set", "seeds=0"], "--set seeds 0:"),
    "a --set of no key": (["--set", "nosuch=1"], "--set nosuch 1: unknown key"),
    "space and config": (["--space", "demo"], "--config and --space"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_a_bad_flag_on_a_file_is_one_line_naming_the_flag(case, tmp_path, capsys):
    flags, words = BAD_FLAGS[case]
    (tmp_path / "mine.yaml").write_text(USER_FILE)
    assert main(["sweep", "--config", str(tmp_path / "mine.yaml"), *flags, "--print-config"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_phi_in_a_file_scales_as_the_efficientnet_family_does(digits_shards):
    """alpha, beta, gamma and a phi grid, without width or depth: the compound scale-up,
    the same models as the built-in efficientnet_family."""
    import tune_spaces

    text = ("space: {models: [{arch: efficientnet, alpha: 1.2, beta: 1.1, gamma: 1.15, "
            "phi: {grid: [0, 1, 2, 3]}}]}\n")  # fmt: skip
    trials = drawn_trials(read_config_text(text, digits_shards))
    family = tune_spaces.models_of(tune_spaces.load("efficientnet_family")(phis="0,1,2,3"))
    assert [t.model for t in trials] == family


def test_a_thousand_draws_print_as_a_screenful(digits_shards, tmp_path, capsys):
    from pipeline.sweep.planning import POINTS_SHOWN, print_grid

    text = LENET_RANDOM.replace("samples: 4", "samples: 1000")
    (tmp_path / "many.yaml").write_text(text)
    plan = plan_of(["--config", str(tmp_path / "many.yaml"), "--data", str(digits_shards),
                    "--storage", str(tmp_path)])  # fmt: skip
    print_grid(plan)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("1000 trials of random search over space many")
    assert (
        len(lines) == 1 + POINTS_SHOWN + 1 and lines[-1] == f"  ... and {1000 - POINTS_SHOWN} more"
    )


LENET_RANDOM = """\
space:
  models: [{arch: lenet5}]
  recipe: {lr: {loguniform: [1e-3, 1e-1]}, epochs: {randint: [1, 4]}}
search: {algorithm: random, samples: 4}
"""


def test_asha_stops_an_optuna_trial_at_the_top_of_its_epochs_range(digits_shards, tmp_path):
    (tmp_path / "o.yaml").write_text(LENET_RANDOM.replace("random", "optuna"))
    plan = plan_of(["--config", str(tmp_path / "o.yaml"), "--data", str(digits_shards),
                    "--storage", str(tmp_path)])  # fmt: skip
    assert plan.epochs == 4  # the range's top, not the largest of a few random draws
