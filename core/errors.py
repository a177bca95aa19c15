"""Domain error families. Features raise subclasses; the web layer maps each family to one status.

No framework imports here, so domain modules may use these freely.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected, user-explainable failure."""

    message = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class NotFound(DomainError):
    message = "Not found."


class Gone(DomainError):
    """The thing existed but is no more, for good (e.g. an expired download)."""

    message = "That is no longer available."


class Forbidden(DomainError):
    message = "You are not allowed to do that."


class Conflict(DomainError):
    message = "That conflicts with the current state."


class InvalidInput(DomainError):
    message = "That input is not valid."


class PaymentRequired(DomainError):
    message = "Not enough points."


class TooManyRequests(DomainError):
    message = "Too many attempts. Please wait and try again."

    def __init__(self, message: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after
