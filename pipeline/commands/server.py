"""`ladder server`: start a team MLflow server on PostgreSQL."""

from __future__ import annotations

import argparse

from pipeline.tracking.server import ARTIFACTS_ENV, BACKEND_ENV, URI_FORM


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend-store-uri", help=f"the PostgreSQL database, {URI_FORM} (or ${BACKEND_ENV})"
    )
    parser.add_argument(
        "--artifacts-destination",
        help=f"s3://BUCKET[/PREFIX] or a folder (or ${ARTIFACTS_ENV}; default ./mlartifacts)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind; 0.0.0.0 for all (default: loopback)"
    )
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4, help="server processes (default: 4)")


def run(args: argparse.Namespace) -> int:
    from pipeline.tracking import server

    return server.serve(
        backend=args.backend_store_uri,
        artifacts=args.artifacts_destination,
        host=args.host,
        port=args.port,
        workers=args.workers,
    )
