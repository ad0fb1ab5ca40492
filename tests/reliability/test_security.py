"""Security properties that must hold by construction: loopback only, no pickle, no stray paths."""
from __future__ import annotations

import re
import tomllib

from ..conftest import REPO

SOURCES = [*(REPO / "kb").rglob("*.py"), *(REPO / "ui").rglob("*.py"), *(REPO / "pages").rglob("*.py"),
           REPO / "streamlit_app.py"]


def test_streamlit_binds_to_loopback_by_default():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False


def test_upload_limit_matches_the_app_setting():
    streamlit = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    app = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    assert streamlit["server"]["maxUploadSize"] == app["storage"]["max_file_mb"]


def test_nothing_is_pickled_or_unpickled():
    offenders = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import pickle|from pickle|import dill|import joblib)|allow_dangerous_deserialization|"
                     r"\.save_local\(|\.load_local\(|allow_pickle\s*=\s*True", text, re.M):
            offenders.append(str(path.relative_to(REPO)))
        for call in re.findall(r"np\.load\([^)]*\)", text):
            if "allow_pickle=False" not in call:
                offenders.append(f"{path.relative_to(REPO)}: {call}")
    assert offenders == []


def test_no_raw_html_from_documents():
    offenders = [str(p.relative_to(REPO)) for p in SOURCES if "unsafe_allow_html=True" in p.read_text("utf-8")]
    assert offenders == []
