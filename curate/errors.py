"""Domain exceptions. The CLI turns each into a one-line message and an exit code."""


class CurateError(Exception):
    """Base class: a problem the user can fix (bad path, bad config, unreadable input).

    The CLI reports these with exit code 2 and no traceback.
    """


class InputError(CurateError):
    """An input file is missing, unreadable, or not in a format we can read."""


class ConfigError(CurateError):
    """A configuration file or option is invalid or contradictory."""


class ClusterError(CurateError):
    """The Ray cluster handed back other counts than it was given (a worker's part files
    lost or repeated): nothing is written, and running again is the fix."""
