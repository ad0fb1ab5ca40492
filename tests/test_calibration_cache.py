"""The gate's calibration is kept in data/cache/calibration, so a new process does not measure it again;
a damaged or foreign cache file is measured again, never trusted."""
from __future__ import annotations

import json

from kb import KnowledgeBase
from kb.search import gate

from .conftest import make_settings

NOTES = [(f"n{i}.md", f"# 笔记 {i}\n\n第 {i} 条笔记：今天学习了第 {i} 种做法，记录下来以后再看。".encode("utf-8"))
         for i in range(12)]


def test_a_new_process_reuses_the_calibration_and_a_damaged_file_is_measured_again(tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "data")
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest_bytes(NOTES)
        first = kb.search("第 3 种做法").calibration
    assert first is not None
    (file,) = (tmp_path / "data" / "cache" / "calibration").glob("*.json")
    measured = []
    real = gate.calibrate
    monkeypatch.setattr(gate, "calibrate", lambda *a: measured.append(1) or real(*a))

    gate._cache.clear()  # what a new process starts with
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.search("第 5 种做法").calibration == first
    assert measured == []

    for damage in ("{not json", json.dumps({**json.loads(file.read_text()), "key": "another/kb"}),
                   json.dumps({**json.loads(file.read_text()), "floor": "NaN"})):
        file.write_text(damage)
        gate._cache.clear()
        with KnowledgeBase.open(settings, "notes") as kb:
            assert kb.search("第 5 种做法").calibration == first
    assert len(measured) == 3
    assert round(json.loads(file.read_text())["floor"], 4) == first["floor"]  # measured again and written whole
