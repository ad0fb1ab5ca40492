"""A job that ends before the page that started it draws its panel (the order a loaded machine
produces about one run in four for the fast model setup) is still found and shown."""
from __future__ import annotations

from tests.ollama_standin import OllamaStandin
from tests.ui.conftest import texts, wait_job


def test_a_job_done_before_its_panel_is_drawn_is_shown_and_found(app_env, monkeypatch):
    from ui import jobs

    started = jobs.start

    def start_and_finish(*args, **kwargs):
        job = started(*args, **kwargs)
        assert job.wait(600), "the model setup never ended"
        return job

    monkeypatch.setattr(jobs, "start", start_and_finish)
    with OllamaStandin(models=["qwen2.5:1.5b"]) as server:
        app_env.ollama(server.url)
        at = app_env.app()
        at.button(key="overview_setup_model").click().run()
        assert not at.exception, at.exception
        assert any("已创建" in s for s in texts(at.success))
        assert "setup" not in at.session_state["_jobs"]  # the page retired it in that same run
        wait_job(at, "setup")  # and the helper still finds it
        assert "kb-qwen:latest" in server.models
        assert at.session_state["_jobs_finished"]["setup"].error is None
