"""What the classifier calls top-1 is the papers' top-1: the share of images right."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.classifier import top_k_accuracy


def test_top1_is_the_share_of_images_right_on_a_split_of_unequal_classes():
    """Three images of class 0, all right; one of class 1, wrong: 3/4 of the images (the
    mean of the per-class accuracies would say 1/2)."""
    logits = torch.tensor([[5.0, 0, 0], [5.0, 0, 0], [5.0, 0, 0], [5.0, 0, 1]])
    labels = torch.tensor([0, 0, 0, 1])
    top1, top2 = top_k_accuracy(3, 1), top_k_accuracy(3, 2)
    for batch in (slice(0, 3), slice(3, 4)):  # over batches of different sizes, as validation
        top1.update(logits[batch], labels[batch])
        top2.update(logits[batch], labels[batch])
    assert float(top1.compute()) == pytest.approx(0.75)
    assert float(top2.compute()) == pytest.approx(0.75)  # class 1 is third: not in the top 2
