"""Errors that local mode reports to the user as one message, never as a traceback."""

from __future__ import annotations


class LocalModeError(Exception):
    """A failure the user can act on; ``str(error)`` says what happened and what to do."""

    exit_code = 1


class TritonNotInstalledError(LocalModeError):
    """The tritonserver binary or its backend stub environment is missing."""


class PortInUseError(LocalModeError):
    """A port that tritonserver should listen on is taken."""


class ServerStartError(LocalModeError):
    """tritonserver exited or never became ready; carries the relevant log lines."""

    def __init__(self, message: str, log_lines: list[str], log_path: str) -> None:
        self.log_lines = log_lines
        self.log_path = log_path
        details = "\n".join(f"  {line}" for line in log_lines)
        text = message
        if details:
            text += f"\nrelevant lines of tritonserver's log:\n{details}"
        text += f"\nfull log: {log_path}"
        super().__init__(text)


class ModelLoadError(ServerStartError):
    """A model in the repository failed to load."""


class InferenceError(LocalModeError):
    """Triton rejected or failed a request; the message is Triton's own."""


class RepositoryError(LocalModeError):
    """The model repository cannot be served locally."""


class CheckFailedError(LocalModeError):
    """The served model's answers differ from ONNX Runtime's."""
