"""`ladder ui`: serve the MLflow UI on 127.0.0.1."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=5000)


def run(args: argparse.Namespace) -> int:
    from pipeline.tracking import ui

    return ui.serve_ui(args.host, args.port)
