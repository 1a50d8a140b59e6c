"""Joining Ray: a cluster at RAY_ADDRESS (with its auth token), or a local Ray here.

Kept apart from the sweep itself because it is about the cluster, not the search: the
fast refusal of an address nobody answers, the one-line message for a missing token,
and the warning when a multi-node cluster writes checkpoints to a local path.
"""

from __future__ import annotations

import socket
import sys

import ray

from lightning_modules.errors import InputError


def connect_ray(address: str | None) -> None:
    """Join the cluster at `address` (RAY_ADDRESS), or start a local Ray on this machine."""

    quiet = ray.LoggingConfig(log_level="ERROR")  # Ray's helpers warn every second otherwise
    if not address:
        ray.init(include_dashboard=False, logging_config=quiet)
        return
    host, _, port = address.rpartition(":")
    if address != "auto" and "://" not in address and host and port.isdigit():
        try:  # fail in seconds, not after Ray's minute of retries
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as error:
            raise InputError(f"RAY_ADDRESS={address}: no Ray cluster answers ({error})") from None
    try:
        ray.init(address=address, logging_config=quiet)
    except (ConnectionError, RuntimeError) as error:
        if refused_token(error):
            raise InputError(
                f"RAY_ADDRESS={address}: the cluster wants its token; set RAY_AUTH_MODE=token "
                "and RAY_AUTH_TOKEN to the one its nodes use"
            ) from None
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise InputError(f"RAY_ADDRESS={address}: cannot join the cluster ({first_line})") from None


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
