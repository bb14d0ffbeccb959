"""(to be written)"""


def register(app) -> None:  # noqa: ARG001
    """Adds this module's commands to the app."""
