#!/usr/bin/env bash
# Set up (first time) and start KB Studio at http://127.0.0.1:8501 on the embedded defaults.
# Ollama is optional: without it, chat shows the most relevant passages instead of an answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m streamlit run streamlit_app.py "$@"
