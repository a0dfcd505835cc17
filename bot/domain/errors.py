"""Domain errors carry the sentence the user needs to hear; one place maps them to Slack/HTTP."""


class DomainError(Exception):
    """A refusal the user can act on; `str(error)` is shown to them as is."""


class IncidentNotFound(DomainError):
    def __init__(self, incident_id: int):
        super().__init__(f"Incident #{incident_id} does not exist.")


class NothingToDo(DomainError):
    """The click arrived after the state it wanted was already reached (double click, race)."""


class NotAllowed(DomainError):
    """The user may not do this; the message says why and who may."""

    def __init__(self, message: str, verdict: object | None = None):
        super().__init__(message)
        self.verdict = verdict  # the domain's Refused, when the permission table decided
