"""Published references as data, one file per data set, and `ladder chart --figure reference`:
a data set's published table against the user's runs, from a real MLflow store."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from pipeline.cli import main
from pipeline.report.references import datasets_with_references, load_dataset_references
from tests.pipeline.conftest import TRIALS
from tests.pipeline.test_charts import assert_charts

# README rows the figure must carry: name -> (accuracy %, the zoo's architecture)
FASHION_ROWS = {
    "2 Conv+pooling+BN": (93.4, "lenet5"),
    "AlexNet with Triplet loss": (89.9, "alexnet"),
    "VGG16 26M parameters": (93.5, "vgg16"),
    "GoogleNet with cross-entropy loss": (93.7, None),
    "ResNet18": (94.9, "resnet18"),
    "MobileNet": (95.0, "mobilenetv2"),
    "WRN-28-10": (95.9, None),
    "WRN40-4 8.9M params": (96.7, None),
    "HOG+SVM": (92.6, None),
    "XgBoost": (89.8, None),
    "Human Performance": (83.5, None),
    "SVC (C=10, RBF kernel)": (89.7, None),
}


def test_fashion_mnist_references_carry_their_sources():
    from lightning_modules.architectures import list_models

    assert set(datasets_with_references()) == {"imagenet", "fashion-mnist"}
    references = load_dataset_references("fashion-mnist")
    assert "arXiv:1708.07747" in references.source
    found = {r.name: (r.top1, r.arch) for r in references.results}
    assert FASHION_ROWS.items() <= found.items()
    two_conv = [r.top1 for r in references.results if r.name == "2 Conv+pooling"]
    assert two_conv == [87.6, 91.6]
    assert all(r.source and r.kind in ("network", "classic", "human") for r in references.results)
    assert {r.arch for r in references.results if r.arch} <= set(list_models())


def fashion_copy(shards: Path, out: Path) -> Path:
    """The digits shards under a manifest that says Fashion-MNIST, as its shards will."""
    shutil.copytree(shards, out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps(manifest | {"dataset": "fashion-mnist"}))
    return out


def test_reference_figure_puts_published_beside_yours(
    store, sweep_logger, digits_shards, tmp_path, capsys
):
    """Two lenet5 runs give a mean ± std; the data set is told by the baseline's run, whose
    shards' manifest names it."""
    second = replace(TRIALS[0], trial_id="t_00004", name="lenet5_seed1", acc1=[0.5, 0.65])
    sweep_logger(store, trials=[*TRIALS, second])
    fashion = fashion_copy(digits_shards, tmp_path / "fashion")
    assert main(["baseline", "--data", str(fashion), "--max-train", "300"]) == 0
    line = capsys.readouterr().out.strip()
    accuracy = line.split("val top-1 ")[1].split("%")[0]

    out = tmp_path / "charts"
    assert main(["chart", "--figure", "reference", "--out", str(out)]) == 0
    page = assert_charts(out, ("reference",))["reference"]
    for published in ("ResNet18 94.9", "2 Conv+pooling+BN 93.4", "MobileNet 95", "WRN40-4"):
        assert json.dumps(published)[1:-1] in page
    assert "HOG+SVM (published): 92.6%" in page and "Human Performance (published): 83.5%" in page
    assert "yours 72.00" in page  # resnet18's one run
    assert json.dumps("yours 63.00 ± 2.83 (n=2)")[1:-1] in page  # lenet5: 61% and 65%
    assert f"baseline svc (raw pixels 32x32, n=300): {accuracy}%" in page
    ticks = ["lenet5", "alexnet", "vgg16", "resnet18", "mobilenetv2", "efficientnet", "other"]
    assert json.dumps(ticks) in page.replace(", ", ",").replace(",", ", ")


def test_a_data_set_without_references_names_those_with(
    store, sweep_logger, digits_shards, tmp_path, capsys
):
    sweep_logger(store)
    assert main(["baseline", "--data", str(digits_shards), "--max-train", "100"]) == 0
    capsys.readouterr()
    assert main(["chart", "--figure", "reference", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    expected = "data set 'digits' has no published references; references exist for: "
    assert expected + "fashion-mnist" in err
    assert not (tmp_path / "c").exists()
