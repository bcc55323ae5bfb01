"""The project's user-facing errors: a fault in what the user gave, not a bug in the code.

The command-line tools print a :class:`UserError` (and file-system errors) as one line and
exit 1; any other exception is a bug and shows its traceback (``lotr_gluon.cli.run_main``).
"""


class UserError(ValueError):
    """A fault in an input the user gave: a file, a folder, an argument, a config value.

    The message says what is wrong, names the file or key, and, where it can, what to do.
    It subclasses ``ValueError`` so that code catching ``ValueError`` keeps working.
    """
