"""Messages of search."""

MESSAGES: dict[str, tuple[str, str]] = {
}
