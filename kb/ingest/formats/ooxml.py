"""Open Office Open XML packages (.docx/.pptx/.xlsx and their macro-enabled twins) safely.

They are zip files, so before a library unpacks one we check what the zip *declares*: the
number of entries and their total uncompressed size (a zip bomb declares gigabytes). Python's
zipfile never inflates an entry past its declared size (it stops and fails the CRC check), so
checking the declarations bounds what python-docx, python-pptx and openpyxl can extract.

A password-protected Office file is not a zip at all but an OLE2 compound file holding the
encrypted package; we recognise its signature and say so instead of "corrupt".

Macro-enabled files (.docm/.pptm/.xlsm) are read for their text only: `without_macros` renames the
macro-enabled main content type to the plain one, so python-docx and python-pptx (which refuse
that type) read the text. `vbaProject.bin` stays an opaque part nobody parses: none of these
libraries can execute VBA, so no macro is ever run.
"""
from __future__ import annotations

import io
import re
import zipfile

from kb.errors import IngestError

MAX_ENTRIES = 10_000
MAX_UNCOMPRESSED = 300 * 1024 * 1024  # declared total; a real 50-slide deck is a few MB
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MACRO_TYPE = re.compile(rb"application/vnd\.ms-(word|powerpoint|excel)\.(document|presentation|sheet)"
                         rb"\.macroEnabled\.main\+xml")
_PLAIN_TYPE = {
    b"word": b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    b"powerpoint": b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    b"excel": b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}


def open_package(name: str, data: bytes) -> zipfile.ZipFile:
    """The zip of an Office file, after the bomb checks. Raises IngestError naming the problem."""
    if data.startswith(_OLE2):
        raise IngestError(name, "ingest.office_encrypted")
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        entries = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise IngestError(name, "ingest.office_corrupt", reason=f"{exc.__class__.__name__}: {str(exc)[:120]}") from None
    if len(entries) > MAX_ENTRIES:
        raise IngestError(name, "ingest.zip_too_many_entries", entries=len(entries), limit=MAX_ENTRIES)
    declared = sum(e.file_size for e in entries)
    if declared > MAX_UNCOMPRESSED:
        raise IngestError(name, "ingest.zip_too_large", size_mb=f"{declared / 2**20:.0f}",
                          limit_mb=f"{MAX_UNCOMPRESSED / 2**20:.0f}")
    if "[Content_Types].xml" not in package.namelist():
        raise IngestError(name, "ingest.office_corrupt", reason="no [Content_Types].xml")
    return package


def without_macros(name: str, data: bytes) -> tuple[bytes, bool]:
    """The package with plain content types; True if it carried macros (which are ignored)."""
    package = open_package(name, data)
    names = package.namelist()
    types = package.read("[Content_Types].xml")
    has_macros = any(n.lower().endswith("vbaproject.bin") for n in names) or bool(_MACRO_TYPE.search(types))
    if not has_macros:
        return data, False
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as clean:
        for entry in package.infolist():
            body = package.read(entry)
            if entry.filename == "[Content_Types].xml":
                body = _MACRO_TYPE.sub(lambda m: _PLAIN_TYPE[m.group(1)], body)
            clean.writestr(entry.filename, body)
    return out.getvalue(), True
