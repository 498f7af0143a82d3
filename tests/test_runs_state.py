"""Key/value state and the run log."""

from __future__ import annotations

from wattlake.engines import Engine
from wattlake.runs import RunLog


def test_state_round_trips_and_survives_a_new_log(engine: Engine) -> None:
    log = RunLog(engine)
    assert log.get_state("oasis:watermark", "none") == "none"
    log.set_state("oasis:watermark", {"day": "2025-01-02", "n": 3})
    log.set_state("oasis:watermark", {"day": "2025-01-03", "n": 4})
    assert RunLog(engine).get_state("oasis:watermark") == {"day": "2025-01-03", "n": 4}


def test_run_steps_record_failures_without_stopping(engine: Engine) -> None:
    log = RunLog(engine)
    run = log.start("demo", {"x": 1})
    with run.step("silver", "a.csv") as step:
        step.rows_read = step.rows_loaded = 5
    with run.step("silver", "b.csv", reraise=False):
        raise ValueError("bad file")
    assert run.finish() == "partial"
    steps = log.steps(run.run_id).to_pylist()
    assert [(s["target"], s["status"]) for s in steps] == [("a.csv", "ok"), ("b.csv", "failed")]
    assert "bad file" in steps[1]["error"]
    row = log.recent(1).to_pylist()[0]
    assert (row["status"], row["rows_loaded"]) == ("partial", 5)
    assert (row["steps_ok"], row["steps_failed"]) == (1, 1)
