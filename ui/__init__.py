"""Streamlit-only glue shared by the pages: cached knowledge base, session state, strings, rendering.

Nothing here knows about retrieval internals; it adapts `kb` results to widgets. `kb` is imported
inside functions so that the entry script starts before the heavy parts load.
"""
