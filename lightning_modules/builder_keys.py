"""The words the model builders take, apart from the builders (torch, timm) so that the
specs, and every command's flags made from them, name them without importing a network."""

SCALING_KEYS = ("width", "depth")  # the multipliers a scalable architecture takes
STEMS = ("imagenet", "cifar")  # the entrances: a network's own, or one for 28-32 px inputs
OPTIONS = ("drop_rate", "drop_path_rate", "zero_init_last_bn")  # regularisers a recipe sets
TIMM_PREFIX = "timm:"  # `timm:convnext_tiny`: any model timm builds
