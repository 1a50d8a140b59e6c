"""Joining Ray: a cluster at RAY_ADDRESS (with its auth token), or a local Ray here.

Kept apart from the sweep itself because it is about the cluster, not the search: the
fast refusal of an address nobody answers, the one-line message for a missing token,
the warning when a multi-node cluster writes checkpoints to a local path, and Ray's
autoscaling coordinator kept on the driver's node (the head), where a lost worker node
cannot take it along.
"""

from __future__ import annotations

import os
import socket
import sys
import time

import ray

from lightning_modules.errors import InputError


def connect_ray(address: str | None, dashboard: bool = True) -> bool:
    """Join the cluster at `address` (RAY_ADDRESS), or start a local Ray on this machine,
    with its dashboard unless told not to (`dashboard`). True when this call connected (a
    Ray already joined, as in a notebook's second sweep, is not this call's to stop)."""

    if ray.is_initialized():
        return False
    quiet = ray.LoggingConfig(log_level="ERROR")  # Ray's helpers warn every second otherwise
    if not address:
        # The dashboard serves the State API, which Ray Train needs to free the CPUs of a
        # DDP trial that Tune stops early; one-worker trials train in their Tune actor and
        # need none, and a local Ray starts 2 s sooner without it. A local Ray records its
        # address nowhere, and the State API's client then looks for the one Ray on the
        # machine, and fails if there are two: name the dashboard to the processes this
        # Ray starts (they inherit the environment).
        if not dashboard:
            ray.init(include_dashboard=False, logging_config=quiet)
            return True
        port = free_port()
        os.environ["RAY_API_SERVER_ADDRESS"] = f"http://127.0.0.1:{port}"
        ray.init(dashboard_port=port, logging_config=quiet)
        return True
    check_cluster(address)
    try:
        ray.init(address=address, logging_config=quiet)
    except (ConnectionError, RuntimeError) as error:
        if refused_token(error):
            raise InputError(token_message(address)) from None
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise InputError(f"RAY_ADDRESS={address}: cannot join the cluster ({first_line})") from None
    keep_autoscaling_coordinator_here()
    return True


def token_message(address: str) -> str:
    return (
        f"RAY_ADDRESS={address}: the cluster wants its token; set RAY_AUTH_MODE=token "
        "and RAY_AUTH_TOKEN to the one its nodes use"
    )


def check_cluster(address: str | None) -> None:
    """Fail in seconds, not after Ray's minute of retries, when the cluster at `address`
    (host:port) does not answer or refuses this driver's token. Nothing to check for a
    local Ray, or for addresses Ray resolves itself (auto, ray://)."""
    host, _, port = (address or "").rpartition(":")
    if address == "auto" or "://" in (address or "") or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise InputError(f"RAY_ADDRESS={address}: no Ray cluster answers ({error})") from None
    check_token(address)


def check_token(address: str) -> None:
    """Ask the cluster's GCS once whether it takes this driver's token (or its lack).

    ray.init retries a refused token for 20-40 s before it gives up; one GCS client
    answers at once. Any other failure is left to ray.init, which says it better.
    """
    from ray._raylet import GcsClient

    try:
        GcsClient(address=address)
    except ray.exceptions.AuthenticationError:
        raise InputError(token_message(address)) from None
    except Exception:  # noqa: BLE001 - ray.init reports the rest
        pass


COORDINATOR = ("AutoscalingCoordinator", "AutoscalingCoordinator")  # name, namespace


def keep_autoscaling_coordinator_here() -> None:
    """Create (or move) Ray's detached AutoscalingCoordinator actor on this driver's node.

    Ray Train 2.60 creates it, detached and with hard affinity, on the node of the first
    trial that asks: a worker node. Once that node dies the actor can never be scheduled
    again, and every later trial logs tracebacks (ActorUnschedulableError ... "doesn't
    exist any more") on each request. Upstream moves it to the head node (ray-project/ray
    PR #62260); until this Ray does, the driver creates it on its own node first (the head,
    where `ladder sweep` runs on a cluster) and replaces one left on a dead node.
    """
    try:
        from ray.data._internal.cluster_autoscaler.default_autoscaling_coordinator import (
            get_or_create_autoscaling_coordinator,
        )
    except ImportError:  # another Ray: nothing of this to keep
        return
    name, namespace = COORDINATOR
    try:
        actor = ray.get_actor(name, namespace=namespace)
    except ValueError:
        actor = None
    if actor is not None and actor_node(actor) != ray.get_runtime_context().get_node_id():
        ray.kill(actor, no_restart=True)
        for _ in range(50):  # the name is free once the GCS has the actor dead
            try:
                ray.get_actor(name, namespace=namespace)
            except ValueError:
                break
            time.sleep(0.1)
    get_or_create_autoscaling_coordinator()


def actor_node(actor: ray.actor.ActorHandle) -> str | None:
    """The node an actor is placed on, from the GCS: None while it has none."""
    info = ray._private.state.actors(actor_id=actor._actor_id.hex())
    return (info.get("Address") or {}).get("NodeID") or None


def refused_token(error: BaseException | None) -> bool:
    """Whether Ray's connection error comes, a few causes down, from token authentication.

    Ray keeps that cause as an exception or only as text: the last traceback, quoted in
    the message of the RuntimeError under the ConnectionError.
    """
    while error is not None:
        if isinstance(error, ray.exceptions.AuthenticationError):
            return True
        if "AuthenticationError" in str(error):
            return True
        error = error.__cause__
    return False


def warn_if_storage_is_local(storage: str) -> None:
    """A multi-node cluster writing to a local-looking path: say so once, on stderr.

    Each node writes its trials' checkpoints there; on one node's own disk, a trial that
    moves to another node after a failure cannot find them and starts over. A shared mount
    (NFS) looks just as local, hence a warning and not an error.
    """
    nodes = sum(node["Alive"] for node in ray.nodes())
    if "://" not in storage and nodes > 1:
        print(
            f"ladder sweep: warning: --storage {storage} is a local path on a {nodes}-node "
            "cluster: checkpoints survive a node only if every node mounts it (NFS); "
            "else use s3://BUCKET/PREFIX",
            file=sys.stderr,
            flush=True,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def state_api_problem() -> str | None:
    """Why Ray's State API (served by the dashboard) fails on the head node; None if it works.

    Tune ends a trial it stops early (ASHA) by killing the trial's actor, and with it the
    Ray Train controller that actor started, before the controller can remove its
    workers' placement group; a placement group outlives its creator until the driver
    exits. Ray Train's `PlacementGroupCleaner`, a detached actor on the head node, removes
    it once it sees the controller dead, and it looks through the State API: without the
    dashboard it keeps asking, the CPUs never come back, and the next trials wait forever.
    """

    @ray.remote(num_cpus=0, resources={"node:__internal_head__": 0.001})  # where the cleaner runs
    def ask() -> str | None:
        from ray.util.state import list_nodes

        try:
            list_nodes(limit=1, timeout=10, raise_on_missing_output=False)
        except Exception as error:  # noqa: BLE001 - its cause, whatever it is, is the answer
            lines = str(error).strip().splitlines()
            return lines[0] if lines else type(error).__name__
        return None

    return ray.get(ask.remote())
