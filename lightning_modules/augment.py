"""A recipe's augmentation policy (`Recipe.auto_augment`) as the PIL-image transform the
loader's workers apply to each cropped training image, as timm's `create_transform` builds it.

One repair of timm's ops, so that every sub-policy runs at every level it can draw:
Posterize in TF's reference policies ('v0', and RandAugment's `Posterize`) keeps
`int(level / 10 * 4)` bits, 0 below level 2.5. The reference (tensorflow/tpu#495)
shifts each 8-bit value right and left by 8 - bits, so 0 bits gives an all-black image;
Pillow's `ImageOps.posterize` refuses 0 bits (ValueError), which killed the training
loader the first time the 'v0' sub-policy (Posterize, 0.8, 2) was drawn. `posterize`
here does what the reference does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PIL import Image
from timm.data import auto_augment as timm_aa
from torchvision.transforms import TrivialAugmentWide

from lightning_modules.errors import InputError


def posterize(image: Image.Image, bits_to_keep: int, **_) -> Image.Image:
    """timm's posterize, with 0 bits (or fewer) giving an all-black image as TF's does."""
    if bits_to_keep <= 0:
        return Image.new(image.mode, image.size, 0)
    return timm_aa.posterize(image, bits_to_keep)


def timm_ops(policy: Callable) -> Iterable[timm_aa.AugmentOp]:
    """Every `AugmentOp` of a timm policy: AutoAugment's sub-policies' ops, RandAugment's
    and AugMix's op lists; none for other transforms (torchvision's TrivialAugmentWide)."""
    if isinstance(policy, timm_aa.AutoAugment):
        return [op for sub_policy in policy.policy for op in sub_policy]
    if isinstance(policy, timm_aa.RandAugment | timm_aa.AugMixAugment):
        return list(policy.ops)
    return []


def augment_policy(name: str, size: int, mean: tuple[float, ...]) -> Callable | None:
    """The PIL-image policy `name` as timm's `create_transform` builds it: `rand-...`
    (RandAugment), `augmix-...`, an AutoAugment policy (`original`, `v0`, `3a`), or
    `ta_wide` (torchvision's TrivialAugmentWide); None for "". InputError otherwise.
    Its Posterize ops take 0 bits as TF's reference does (see the module docstring)."""
    if not name:
        return None
    if name == "ta_wide":
        return TrivialAugmentWide()
    params = {"translate_const": int(size * 0.45),
              "img_mean": tuple(min(255, round(255 * value)) for value in mean)}  # fmt: skip
    if len(mean) == 1:
        params["img_mean"] = params["img_mean"][0]  # grayscale images fill with one value
    build = {"rand": timm_aa.rand_augment_transform, "augmix": timm_aa.augment_and_mix_transform}
    try:
        policy = build.get(name.split("-")[0], timm_aa.auto_augment_transform)(name, params)
    except (AssertionError, KeyError, ValueError, IndexError) as error:
        raise InputError(
            f"auto_augment {name!r}: not a timm policy (rand-m9-mstd0.5, original, v0, "
            f"augmix-m5) nor ta_wide ({error or 'unknown'})"
        ) from None
    for op in timm_ops(policy):
        if op.aug_fn is timm_aa.posterize:
            op.aug_fn = posterize
    return policy
