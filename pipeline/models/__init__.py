"""A sweep's models taken home: the winner's checkpoint, its export in timm's layout, the
MLflow Model Registry, and evaluation apart from the sweep."""
