"""The one error type for bad input, raised by the library and the commands alike.

`ladder` turns it into one line on stderr and exit status 2, so its message must name the
offending flag, file or value and say what was expected. It is a `ValueError`, so code
that calls the library without the CLI catches it the usual way.
"""


class InputError(ValueError):
    """Bad input from the user: a flag, a file or a value that cannot work."""
