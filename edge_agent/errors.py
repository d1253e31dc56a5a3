"""One exception root for everything edge-agent reports to a person.

Every message is one line and says what to do next. The CLI catches `EdgeAgentError`, prints its message and
exits with `exit_code`: 1 for a runtime failure, 2 for invalid input or configuration.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_INVALID = 2


class EdgeAgentError(Exception):
    """Root of all errors meant for a user; the message says what to do next."""

    exit_code = EXIT_RUNTIME


class InvalidInputError(EdgeAgentError):
    """A file, argument or value given by the user cannot be used."""

    exit_code = EXIT_INVALID


class ConfigError(InvalidInputError):
    """The configuration file is invalid; `problems` holds one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class KeyFileError(InvalidInputError):
    """A key file is missing, malformed, of the wrong type or readable by others."""


class ModelError(InvalidInputError):
    """A model file is missing, corrupt, or does not match its contract."""


class RuntimeMissingError(EdgeAgentError):
    """No TFLite runtime (or another optional backend) is installed."""


class CryptoError(EdgeAgentError):
    """Sealing or opening an envelope, or checking a receipt, failed."""


class SignatureError(CryptoError):
    """A signature does not verify against the key it claims."""


class UnknownKeyError(CryptoError):
    """An envelope or receipt names a key id this side does not hold."""


class UnknownDeviceError(UnknownKeyError):
    """An envelope comes from a device that is not enrolled."""


class MalformedError(CryptoError):
    """Bytes that should be an envelope or receipt do not parse."""


class SpoolError(EdgeAgentError):
    """The on-device spool cannot be opened or written."""


class SpoolFullError(SpoolError):
    """The spool reached `spool.max_bytes` and `when_full` is `reject_new`."""


class UplinkError(EdgeAgentError):
    """The broker cannot be reached, refuses us, or fails TLS verification."""


class CaptureError(EdgeAgentError):
    """A camera or video source cannot be opened or stopped delivering frames."""


class IngestError(EdgeAgentError):
    """The city's ingest service cannot start or store."""
