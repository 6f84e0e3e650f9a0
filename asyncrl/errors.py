"""The error for bad user input: the command reports it as one line and exits with code 2."""


class ConfigError(ValueError):
    """Bad user input, reported as one line with exit code 2 before any work starts."""
