#!/opt/moto/bin/python
"""`mc ready ALIAS` for the health check: the S3 stand-in answers on its port."""

import socket
import sys

if sys.argv[1:2] != ["ready"]:
    sys.exit("mc stand-in: only `mc ready ALIAS`")
try:
    socket.create_connection(("127.0.0.1", 9000), timeout=3).close()
except OSError as error:
    sys.exit(f"mc stand-in: S3 not ready ({error})")
