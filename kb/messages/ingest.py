"""Messages of ingest."""

MESSAGES: dict[str, tuple[str, str]] = {
}
