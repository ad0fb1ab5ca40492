"""Pytest fixtures for the Ollama stand-in; import them into conftest.py.

    from tests.ollama_fixtures import ollama_down_url, ollama_standin  # noqa: F401
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.ollama_standin import OllamaStandin, unused_url


@pytest.fixture
def ollama_standin() -> Iterator[OllamaStandin]:
    """A running stand-in with `kb-qwen:latest` and `qwen2.5:1.5b` installed; stopped after the test."""
    with OllamaStandin() as server:
        yield server


@pytest.fixture
def ollama_down_url() -> str:
    """A loopback URL where nothing listens: what the app sees when Ollama is not running."""
    return unused_url()
