"""One module per `ladder` command: its flags (`configure`), then one call into a library
(`run`). Libraries are imported inside `run`, so that `--help` and flag errors cost no torch,
Ray, Lightning or MLflow; no command imports another."""
