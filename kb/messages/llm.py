"""Messages of llm."""

MESSAGES: dict[str, tuple[str, str]] = {
}
