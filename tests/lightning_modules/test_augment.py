"""Every augmentation policy a recipe can name runs on real images at every level it can
draw: each AutoAugment sub-policy, and each op of RandAugment, AugMix and TrivialAugment at
each magnitude, on RGB and grayscale photos-like images and on the digits."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sklearn.datasets import load_digits
from timm.data import IMAGENET_DEFAULT_MEAN
from timm.data.auto_augment import AutoAugment
from torchvision.transforms import TrivialAugmentWide
from torchvision.transforms.autoaugment import _apply_op

from lightning_modules.augment import augment_policy, timm_ops
from lightning_modules.recipes import CATALOGUE

SIZE = 48
# the catalogue's policies, and the other kinds `augment_policy` documents
POLICIES = sorted(
    {named.recipe.auto_augment for named in CATALOGUE.values()} - {""}
    | {"original", "v0", "3a", "augmix-m5", "rand-m9-mstd0.5", "ta_wide"}
)


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A photo-like RGB image: a sky gradient, a ground, a sun and a house, saved as a
    JPEG and decoded again as a loader worker would."""
    rng = np.random.default_rng(seed)
    width, height = size
    rows = np.linspace(0, 1, height)[:, None, None]
    sky = (rows * rng.integers(0, 255, 3) + (1 - rows) * rng.integers(0, 255, 3)).astype(np.uint8)
    image = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).copy())
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(60, 120, 40))
    draw.ellipse((width // 8, height // 8, width // 3, height // 3), fill=(250, 220, 90))
    draw.rectangle((width // 2, height // 3, width * 7 // 8, height * 3 // 4), fill=(150, 40, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def digit(index: int) -> Image.Image:
    """One of sklearn's digits (0..16 ink) as the demo shards store it: 32x32 grayscale."""
    pixels = (load_digits().images[index] * (255 / 16)).astype(np.uint8)
    return Image.fromarray(pixels).resize((32, 32), Image.Resampling.BILINEAR)


def images(mode: str) -> list[Image.Image]:
    """Real images of `mode`: two photos, a flat black one, and (grayscale) two digits."""
    found = [photo((SIZE, SIZE), 0), photo((SIZE + 16, SIZE), 1), Image.new("RGB", (SIZE, SIZE))]
    if mode == "L":
        return [image.convert("L") for image in found] + [digit(0), digit(7)]
    return found


def at_level(op, magnitude: float):
    """`op` applied always, at exactly `magnitude` (no random magnitude noise)."""
    fixed = copy.copy(op)
    fixed.prob, fixed.magnitude, fixed.magnitude_std = 1.0, magnitude, 0
    return fixed


def check(image: Image.Image, out: Image.Image, what: str) -> None:
    assert isinstance(out, Image.Image), what
    assert (out.mode, out.size) == (image.mode, image.size), what


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("name", POLICIES)
def test_every_op_of_every_policy_runs_at_every_level(name: str, mode: str):
    mean = IMAGENET_DEFAULT_MEAN if mode == "RGB" else (sum(IMAGENET_DEFAULT_MEAN) / 3,)
    policy = augment_policy(name, SIZE, mean)
    if isinstance(policy, TrivialAugmentWide):
        check_trivial_augment(policy, mode)
        return
    ops = timm_ops(policy)
    assert ops, name
    upper = max(op.magnitude_max or 10 for op in ops)
    for image in images(mode):
        if isinstance(policy, AutoAugment):  # each sub-policy as published, always applied
            for index, sub_policy in enumerate(policy.policy):
                out = image
                for op in sub_policy:
                    out = at_level(op, op.magnitude)(out)
                check(image, out, f"{name} sub-policy {index}")
        for op in ops:
            for magnitude in range(upper + 1):
                check(image, at_level(op, magnitude)(image), f"{name} {op.name} m{magnitude}")


def check_trivial_augment(policy: TrivialAugmentWide, mode: str) -> None:
    """Each of torchvision's ops at each of its magnitude bins, both signs where signed."""
    space = policy._augmentation_space(policy.num_magnitude_bins)
    for image in images(mode):
        for op, (magnitudes, signed) in space.items():
            for magnitude in magnitudes.tolist() if magnitudes.ndim else [0.0]:
                for level in (magnitude, -magnitude) if signed else (magnitude,):
                    out = _apply_op(image, op, level, policy.interpolation, None)
                    check(image, out, f"ta_wide {op} {level}")


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_posterize_to_zero_bits_is_black_as_in_the_reference(mode: str):
    """The 'v0' sub-policy (Posterize, 0.8, 2) keeps int(2 / 10 * 4) = 0 bits: TF's
    reference shifts every value out, leaving an all-black image (tensorflow/tpu#495)."""
    policy = augment_policy("v0", SIZE, (0.5,) * (3 if mode == "RGB" else 1))
    (zero_bits,) = [op for op in timm_ops(policy) if op.name == "Posterize" and op.magnitude == 2]
    image = images(mode)[0]
    assert np.asarray(image).max() > 0
    assert np.asarray(at_level(zero_bits, 2)(image)).max() == 0
    four_bits = np.asarray(at_level(zero_bits, 10)(image))  # level 10 keeps 4 bits
    assert four_bits.max() > 0 and not (four_bits & 0x0F).any()
