"""`ladder`: one entry point, one sub-command per module of pipeline/commands.

A command module declares its flags (`configure(parser)`) and does its work with one call
into a library (`run(args) -> int`), importing that library only then: `ladder --help`,
`ladder COMMAND --help` and flag errors never pay for torch, Ray, Lightning or MLflow.
The CLI only dispatches, and turns an `InputError` into one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
from typing import NoReturn

from lightning_modules.errors import InputError

# the sub-commands, in the order `ladder --help` lists them: pipeline/commands/<name>.py
COMMANDS = (
    "profile",
    "shards",
    "train",
    "recipes",
    "calibrate",
    "bench",
    "gpu-check",
    "sweep",
    "sync",
    "baseline",
    "leaderboard",
    "chart",
    "export",
    "evaluate",
    "ui",
    "server",
)
# stdout is the command's output (JSON, tables): MLflow's client writes a "View run NAME
# at: URL" line to it for each run it closes on a server, one a trial in a sweep.
QUIET_MLFLOW = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


class OneLineParser(argparse.ArgumentParser):
    """argparse's own usage errors (a missing flag, `--resolution abc`) as an InputError,
    so that they too are one line and exit 2 from `main`, not usage text and SystemExit.
    Sub-command parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see `{self.prog} --help`)")


def summary_of(docstring: str) -> str:
    """A command's one-line help: its docstring's first paragraph, `ladder X`: dropped."""
    first = " ".join(docstring.split("\n\n")[0].split())
    return first.split(": ", 1)[1].rstrip(".")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ladder", description="Climb the ImageNet CNN ladder: LeNet-5 to EfficientNet."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name in COMMANDS:
        module = importlib.import_module(f"pipeline.commands.{name.replace('-', '_')}")
        help_text = summary_of(module.__doc__)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only the chosen command's flags are declared
            module.configure(sub_parser)
            sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = [a for a in argv if not a.startswith("-")][:1]  # [] for a bare `ladder`
    for key, value in QUIET_MLFLOW.items():
        os.environ.setdefault(key, value)  # a value the user set wins
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args.run(args) or 0)
    except InputError as error:
        print(f"{' '.join(['ladder', *command])}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{' '.join(['ladder', *command])}: interrupted", file=sys.stderr)
        return 130


def program() -> None:
    """The `ladder` program: `main`, then an exit without the interpreter's teardown.

    Once a command has returned, its files are written and every exit handler (Ray's
    shutdown, MLflow's, logging's) runs as usual; what is left after them is unloading
    torch, Ray and MLflow module by module, 2.3 s of a sweep's end here for nothing. So
    the last exit handler (registered first) flushes the streams and ends the process.
    An exception still ends the ordinary way, traceback and all."""
    code: list[int] = []
    atexit.register(_exit_now, code)
    code.append(main())
    sys.exit(code[0])


def _exit_now(code: list[int]) -> None:
    if not code:  # main raised: the interpreter's own exit
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code[0])


if __name__ == "__main__":
    program()
