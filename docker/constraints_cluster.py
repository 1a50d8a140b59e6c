"""Print docker/constraints-cluster.txt: the pins of what the images add to constraints.txt.

pip resolves the image's install (the project, Ray's cluster extras, boto3) and the S3
stand-in's moto[server] together under constraints.txt, without installing anything,
against the index the images use (PIP_INDEX_URL, else PyPI), with no local pip config.

    make cluster-constraints        # > docker/constraints-cluster.txt
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRA = ["ray[default,client]", "boto3", "moto[server]"]
PIP = "26.3"  # the images' own pip, upgraded to this first
HEADER = """\
# Every package the images install beyond constraints.txt, pinned: Ray's cluster extras
# ("ray[default,client]": dashboard, Ray Client, autoscaler), boto3 (MLflow's and Ray's
# S3), the S3 stand-in's moto[server], pip itself and the build backend. Resolved together
# with constraints.txt against the package index by `make cluster-constraints`; the images
# install with both files (-c constraints.txt -c docker/constraints-cluster.txt).
"""


def key(name: str) -> str:
    return name.lower().replace("_", "-")


def main() -> int:
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[key(name)] = version.strip()
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""}
    index = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--quiet", "--report", str(report), "--index-url", index,
                   "-c", str(ROOT / "constraints.txt"), str(ROOT), *EXTRA]  # fmt: skip
        subprocess.run(command, check=True, env=env)
        resolved = {
            key(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]
        }
    extra = {
        name: version
        for name, version in resolved.items()
        if name not in pinned and name != "cnn-ladder"
    }
    extra.setdefault("setuptools", resolved.get("setuptools", ""))
    print(HEADER + f"pip=={PIP}")
    for name in sorted(extra):
        if extra[name]:
            print(f"{name}=={extra[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
