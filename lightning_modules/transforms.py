"""What a loader worker does to each image: decode, crop, resize, flip, augment.

The per-sample work of `ShardDataModule`'s workers, kept apart so that a few CPU cores
keep a GPU fed: the crop is drawn on the stored image size before decoding, libjpeg
decodes at 1/2, 1/4 or 1/8 scale when the crop stays at least the output size
(`draft_scale`), the crop is resized once, and uint8 is handed over. The eval crop is
timm's own eval transform (`create_transform`) on the whole decoded image, so that a
model taken home and scored with timm's preprocessing sees the pixels validation saw.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image
from timm.data import create_transform
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision.transforms.functional import pil_to_tensor


def draft_scale(box: tuple[float, float, float, float], size: int) -> int:
    """The JPEG DCT scale (8, 4, 2, else 1) to decode a crop `box` for a `size` x `size` output.

    libjpeg decodes at 1/2, 1/4 or 1/8 of the stored size for a fraction of the cost; the
    largest scale is taken that still leaves the crop at least `size` pixels on each side,
    so the final resize only ever shrinks, as it would from the full-size decode.
    """
    side = min(box[2] - box[0], box[3] - box[1])
    return next((scale for scale in (8, 4, 2) if side >= scale * size), 1)


def resized_crop(image: Image.Image, box: tuple, size: int, mode: str) -> Image.Image:
    """`box` (left, top, right, bottom in stored pixels) of an opened image, as `mode`,
    resized to `size` x `size` (bilinear, as timm's default).

    The image must not be loaded yet: `draft` configures the JPEG decoder (scale, and
    grayscale straight from the luma channel); on a loaded image or another format it
    returns None and the image is used at full size.
    """
    scale = draft_scale(box, size)
    width, height = image.size
    drafted = image.draft(mode, (width // scale, height // scale) if scale > 1 else None)
    factor = drafted[1][2] / width if drafted else 1.0  # stored -> decoded coordinates
    if image.mode != mode:
        image = image.convert(mode)
    box = tuple(coordinate * factor for coordinate in box)
    return image.resize((size, size), Image.Resampling.BILINEAR, box=box)


@functools.cache
def timm_eval(size: int, crop_pct: float) -> Callable[[Image.Image], torch.Tensor]:
    """timm's eval transform as `create_transform` builds it from an exported model's data
    config (`lightning_modules.exported.EVAL_TRANSFORM`): shorter side resized to
    floor(size / crop_pct), the central `size` x `size`, uint8 out (its prefetcher's form:
    normalisation happens on the device)."""
    return create_transform(
        input_size=size, crop_pct=crop_pct, is_training=False, use_prefetcher=True,
        interpolation="bilinear", crop_mode="center",
    )  # fmt: skip


@dataclass(frozen=True)
class DecodeCrop:
    """Opened JPEG -> (channels, size, size) uint8 tensor; the per-sample work of a worker.

    Train (`area` set): timm's RandomResizedCrop parameters (area fraction `area`, aspect
    ratio 3/4..4/3) drawn on the stored size; or (`pad` > 0, for small images) the whole
    image, then `padded_crop`; then a horizontal flip with probability `hflip`; the crop
    is decoded at the smallest size that keeps it >= `size` (see `draft_scale`) and
    resized once. Eval (neither): the image decoded whole and timm's eval transform
    (`timm_eval`), whose `crop_pct` 1.0 keeps the whole image. Values stay uint8:
    normalisation happens on the device (`ShardDataModule.normalize`).
    `policy` (train only) then augments the cropped image (`augment_policy`).
    """

    size: int
    mode: str  # "RGB" or "L"
    crop_pct: float
    area: tuple[float, float] | None = None
    pad: int = 0
    hflip: float = 0.0
    policy: Callable | None = None

    def __call__(self, image: Image.Image) -> torch.Tensor:
        training = self.area is not None or self.pad > 0
        if not training:  # decoded whole, as timm's reader does: its pixels exactly
            return timm_eval(self.size, self.crop_pct)(image.convert(self.mode))
        if self.pad:
            box = (0, 0, *image.size)
        else:
            top, left, height, width = RandomResizedCropAndInterpolation.get_params(
                image, self.area, (3 / 4, 4 / 3)
            )
            box = (left, top, left + width, top + height)
        image = resized_crop(image, box, self.size, self.mode)
        if self.pad:
            image = padded_crop(image, self.pad)
        if random.random() < self.hflip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.policy is not None:
            image = self.policy(image)
        return pil_to_tensor(image)


def padded_crop(image: Image.Image, pad: int) -> Image.Image:
    """`image` zero-padded by `pad` pixels on every side, then cropped back to its size at
    a random offset: the CIFAR papers' translation augmentation (He et al. 2016, sec. 4.2:
    "4 pixels are padded on each side, and a 32x32 crop is randomly sampled")."""
    width, height = image.size
    canvas = Image.new(image.mode, (width + 2 * pad, height + 2 * pad), 0)
    canvas.paste(image, (pad, pad))
    left, top = random.randint(0, 2 * pad), random.randint(0, 2 * pad)
    return canvas.crop((left, top, left + width, top + height))
