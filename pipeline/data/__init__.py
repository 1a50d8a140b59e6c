"""Data for `ladder shards`: ImageNet-layout folders, IDX files and demo sets, and the writer."""

DEMOS = ("digits", "fashion-mnist")  # `--demo`: sklearn's digits, Debian's Fashion-MNIST
DEFAULT_MAX_SIZE = 256  # shorter side: 224 px crops at timm's crop_pct 0.875, no upsampling
