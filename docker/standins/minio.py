#!/opt/moto/bin/python
"""`minio server DIR [--address :9000] [--console-address ...]`, served by moto's S3."""

import os
import sys

args = sys.argv[1:]
if args[:1] != ["server"]:
    sys.exit("minio stand-in: only `minio server DIR [--address HOST:PORT]`")
address = args[args.index("--address") + 1] if "--address" in args else ":9000"
host, _, port = address.rpartition(":")
os.execvp("moto_server", ["moto_server", "-H", host or "0.0.0.0", "-p", port])
