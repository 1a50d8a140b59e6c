"""The one error type the CLI turns into a one-line message and exit status 2."""


class UsageError(Exception):
    """Bad input from the user: a flag, a file or a value that cannot work.

    The message must name the offending flag/file/value and say what was expected,
    in one line, because `ladder` prints it as-is and exits 2.
    """
