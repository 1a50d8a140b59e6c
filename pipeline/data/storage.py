"""How `ladder shards` stores each image: as it came where possible, bit-exact when small.

A JPEG keeps its bytes and a PNG too; another lossless format (BMP, TIFF, GIF, IDX pixels)
becomes a PNG, so that a 28x28 image reaches the model exactly as its source has it. Only
an image whose shorter side exceeds `--max-size` is resized, to exactly that, and stored
as JPEG q90, as ImageNet pipelines do.
"""

from __future__ import annotations

import io

from PIL import Image

JPEG_QUALITY = 90  # for images shrunk to --max-size
LOSSLESS = ("PNG", "BMP", "TIFF", "GIF", "PPM")  # stored as PNG, bit-exact
# How images are stored (see the module docstring); shards of another rule are not resumed.
STORAGE = "jpeg and png as given, other lossless as png, shrunk as jpeg q90"


def stored_image(raw: bytes, max_size: int) -> tuple[str, bytes]:
    """(extension, bytes) to store for the image `raw` (see the module docstring): the
    original bytes of a JPEG or PNG that fits, other lossless formats as PNG, and an image
    over `max_size` shrunk and stored as JPEG q90.

    Decodes fully (`load()`) so that corrupt and truncated files fail here, not in training.
    """
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
        if min(image.size) > max_size:
            return "jpg", _jpeg(_shrunk(image, max_size))
        if image.format in ("JPEG", "PNG"):
            return ("jpg" if image.format == "JPEG" else "png"), raw
        if image.format in LOSSLESS:
            out = io.BytesIO()
            image.save(out, "PNG")
            return "png", out.getvalue()
        return "jpg", _jpeg(image)


def _shrunk(image: Image.Image, max_size: int) -> Image.Image:
    width, height = image.size
    scale = max_size / min(width, height)
    size = (max(max_size, round(width * scale)), max(max_size, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _jpeg(image: Image.Image) -> bytes:
    if image.mode not in ("L", "RGB", "CMYK"):  # JPEG stores no alpha or palette
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
