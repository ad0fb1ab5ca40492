"""Loaders for the formats beyond PDF, Markdown and text, one module per family.

`kb.ingest.loaders` keeps the registry (extension -> kind -> loader) and imports these lazily, so a
user who only ingests Markdown never pays for python-docx, openpyxl or the OCR models.
Every loader takes `(name, data)` and returns a `kb.ingest.loaders.LoadedFile`; every problem is an
`IngestError` naming the file.
"""
