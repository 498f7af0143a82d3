"""What the CLI prints when input or settings are wrong or hostile (issue 7, items 7, 11, 12,
15, 18): data never read as rich markup, one-line errors naming the thing and the fix, a
non-zero exit when nothing was done, a read-only `wattlake sql`, help with examples."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wattlake.cli import app, main
from wattlake.config import get_settings
from wattlake.sources.meter_files.schema import LP

HEADER = ",".join(LP.header)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("WAREHOUSE", "MAX_FILE_BYTES", "DUCKDB_MEMORY_LIMIT", "METER_TIMEZONE"):
        monkeypatch.delenv(f"WATTLAKE_{var}", raising=False)
    monkeypatch.setenv("WATTLAKE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``wattlake ARGV`` in this process through ``main`` (which turns errors into messages)."""
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out.out, out.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and " — " in lines[0], lines[0]
    return lines[0]


def lp_file(path: Path, *values: str) -> Path:
    rows = [f"5,5,P,01/01/2025 00:{15 * (i + 1):02d}:00,Import Wh Total,{v},kwh," for i, v in
            enumerate(values)]  # fmt: skip
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


# -- item 7: markup ---------------------------------------------------------------------------
def test_markup_in_file_names_and_rejects_is_shown_as_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = lp_file(tmp_path / "LP_[bold]m25.csv", "1.5", "[red]x[/red]", "[/]")
    code, out, err = run(capsys, "ingest", "meter-files", str(f))
    assert code == 0, err
    assert "LP_[bold]m25.csv" in out
    run_id = re.search(r"wattlake runs (\S+) --rejects", err)
    assert run_id, err
    code, out, err = run(capsys, "runs", run_id.group(1), "--rejects")
    assert code == 0, err
    assert "[red]x[/red]" in out and "[/]" in out and "LP_[bold]m25.csv" in out
    code, out, _ = run(capsys, "sql", "SELECT '[/]' AS \"[b]c\", '[red]v[/red]' AS v")
    assert code == 0 and "[/]" in out and "[b]c" in out and "[red]v[/red]" in out


def test_control_characters_from_data_reach_the_terminal_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ESC, CR or C1 CSI in a value or a file name is shown as \\x1b, \\x0d, \\x9b in tables;
    CSV keeps the exact bytes into a pipe and shows them escaped on a terminal."""
    f = lp_file(tmp_path / "LP_\x1b[2Jm.csv", "1.5")
    code, out, err = run(capsys, "ingest", "meter-files", str(f))
    assert code == 0, err
    assert "\x1b" not in out + err and "LP_\\x1b[2Jm.csv" in out
    query = "SELECT chr(27) || '[31mred' AS a, 'x' || chr(13) || 'y' AS b, chr(155) || '2J' AS c"
    code, out, _ = run(capsys, "sql", query)
    assert code == 0 and not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), out
    assert "\\x1b[31mred" in out and "x\\x0dy" in out and "\\x9b2J" in out
    code, out, _ = run(capsys, "sql", query, "--format", "csv")  # a pipe: the data as it is
    assert code == 0 and "\x1b[31mred" in out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, _ = run(capsys, "sql", query, "--format", "csv")
    assert code == 0 and "\x1b" not in out and "\\x1b[31mred" in out


def test_csv_output_quotes_formulas_as_the_api_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text cell a spreadsheet would run (=, +, -, @) is written with a leading quote, into a
    pipe too (the file may open in a spreadsheet); numbers are not; JSON keeps the value."""
    f = lp_file(tmp_path / "LP_1.csv", "1.5")
    code, _, err = run(capsys, "ingest", "meter-files", str(f))
    assert code == 0, err
    query = "SELECT '=HYPERLINK(\"http://x\")' AS a, '-3' AS b, -3.5 AS n, 'ok=1' AS c"
    code, out, _ = run(capsys, "sql", query, "--format", "csv")
    assert code == 0
    assert out.splitlines()[1] == '"\'=HYPERLINK(""http://x"")","\'-3",-3.5,"ok=1"', out
    code, out, _ = run(capsys, "sql", query, "--format", "json")
    assert code == 0 and json.loads(out)[0]["a"] == '=HYPERLINK("http://x")'


def test_hints_with_brackets_keep_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "utility2_circuits.csv"
    f.write_text("Master_CDF\nF1\n")
    code, _, err = run(capsys, "ingest", "hosting-capacity", str(f))
    assert code == 1
    assert "update [columns] in" in err


# -- item 11: messages ------------------------------------------------------------------------
def test_paths_that_are_not_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a meter file")
    cases = {
        fifo: "is a named pipe (FIFO)",
        tmp_path / "a.csv": "is a symbolic link loop",
        tmp_path / "dangling.csv": "gone.csv, which does not exist",
        tmp_path / "missing.csv": "does not exist",
        tmp_path / "empty": "no meter-files files in",
    }
    for path, words in cases.items():
        code, _, err = run(capsys, "ingest", "meter-files", str(path))
        assert code == 2 and words in one_error_line(err), (path, err)
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()  # nothing was done


@pytest.mark.parametrize(
    ("var", "value", "words"),
    [
        ("WATTLAKE_WAREHOUSE", "mysql://x@y/z", "unsupported warehouse URL scheme 'mysql'"),
        ("WATTLAKE_MAX_FILE_BYTES", "lots", "WATTLAKE_MAX_FILE_BYTES='lots'"),
        ("WATTLAKE_DUCKDB_MEMORY_LIMIT", "banana", "WATTLAKE_DUCKDB_MEMORY_LIMIT='banana'"),
        ("WATTLAKE_METER_TIMEZONE", "Mars/Olympus", "not an IANA time zone"),
    ],
)
def test_bad_settings_fail_once_before_any_work(
    var: str,
    value: str,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = [lp_file(tmp_path / f"LP_{i}.csv", "1.0") for i in range(3)]
    monkeypatch.setenv(var, value)
    code, _, err = run(capsys, "ingest", "meter-files", *map(str, files))
    assert code == 2 and words in one_error_line(err)
    assert "Traceback" not in err
    monkeypatch.delenv(var)
    code, out, _ = run(capsys, "runs", "-f", "json")
    assert code == 0 and json.loads(out) == []  # no run was even started


def test_sizes_with_units_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTLAKE_MAX_FILE_BYTES", "2GiB")
    get_settings.cache_clear()
    assert get_settings().max_file_bytes == 2 * 1024**3


def test_unknown_run_id_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["runs", "NOPE", "--rejects"], ["runs", "NOPE"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and "no run 'NOPE'" in one_error_line(err) and out == ""


def test_unwritable_warehouse_is_not_called_busy(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "runs")[0] == 0  # creates the warehouse file
    db = home / "warehouse.duckdb"
    if os.geteuid() == 0:  # root ignores permission bits; an immutable file refuses even root
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(db)]).returncode:
            pytest.skip("cannot make a file unwritable for root here")
    else:
        db.chmod(0o444)
    try:
        code, _, err = run(capsys, "ingest", "meter-files", str(lp_file(home / "LP_1.csv", "1")))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db)], check=True)
    line = one_error_line(err)
    assert code == 2 and "no permission to write" in line and "another" not in line


def test_warehouse_held_by_another_process_names_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "runs")[0] == 0
    holder = hold_duckdb(home / "warehouse.duckdb", read_only=False)
    try:
        code, _, err = run(capsys, "ingest", "meter-files", str(lp_file(home / "LP_1.csv", "1")))
    finally:
        holder.kill()
        holder.wait()
    line = one_error_line(err)
    assert code == 2 and "in use by another process" in line and f"PID {holder.pid}" in line


# -- item 12: demo port -----------------------------------------------------------------------
def test_demo_checks_its_port_before_loading(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "demo", "--port", str(port))
    assert code == 2 and f"cannot serve on 127.0.0.1:{port}" in one_error_line(err)
    assert out == "" and not home.exists()  # nothing generated, nothing loaded


# -- item 15: read-only sql -------------------------------------------------------------------
def test_sql_cannot_touch_files_or_the_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "ingest", "meter-files", str(lp_file(tmp_path / "LP_1.csv", "1")))[0] == 0
    secret = tmp_path / "secret.txt"
    secret.write_text("a:b\nc:d\n")
    target = tmp_path / "out.csv"
    for query in (
        f"COPY meter_reads TO '{target}'",
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM read_text('{secret}')",
        "INSTALL httpfs",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS o",
        "SET enable_external_access = true",
        "DELETE FROM meter_reads",
    ):
        code, out, _ = run(capsys, "sql", query)
        assert code == 2, (query, out)
        assert "c:d" not in out
    assert not target.exists() and not (tmp_path / "other.duckdb").exists()
    code, out, _ = run(capsys, "sql", "SELECT count(*) AS n FROM meter_reads", "-f", "json")
    assert code == 0 and json.loads(out) == [{"n": 1}]


# -- item 18: help, runs in 80 columns, readers beside a holder -------------------------------
@pytest.mark.parametrize("command", [[], ["runs"], ["serve"], ["demo"], ["config"], ["sql"]])
def test_help_has_examples_that_are_not_rewrapped(command: list[str]) -> None:
    import inspect

    from wattlake.cli import system as cli_module

    r = CliRunner().invoke(app, [*command, "--help"], terminal_width=80)
    assert r.exit_code == 0 and "Examples:" in r.output
    doc = app.info.help if not command else getattr(cli_module, command[0]).__doc__
    block = inspect.cleandoc(str(doc)).split("Examples:", 1)[1].split("```")[1]
    examples = [line.strip() for line in block.splitlines() if line.strip()]
    shown = {line.strip() for line in r.output.splitlines()}
    assert examples and all(e in shown for e in examples), (examples, r.output)


def wattlake(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wattlake.cli", *argv],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_runs_table_never_wraps_a_run_id_in_80_columns(tmp_path: Path, home: Path) -> None:
    env = {"WATTLAKE_HOME": str(home), "COLUMNS": "80"}
    folder = tmp_path / "hc"
    folder.mkdir()
    (folder / "utility2_circuits.csv").write_text("Master_CDF\nF1\n")  # a failed step
    assert wattlake("ingest", "meter-files", str(lp_file(tmp_path / "LP_1.csv", "x")), env=env)
    wattlake("ingest", "hosting-capacity", str(folder), env=env)
    listing = json.loads(wattlake("runs", "-f", "json", env=env).stdout)
    assert len(listing) == 2
    r = wattlake("runs", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), r.stdout
    for run_ in listing:
        assert any(run_["run_id"] in line for line in lines), r.stdout
        assert any(run_["pipeline"] in line and run_["run_id"] in line for line in lines)


def hold_duckdb(path: Path, *, read_only: bool) -> subprocess.Popen[str]:
    """Another process that holds the DuckDB file open until killed."""
    code = (
        "import sys, time, duckdb\n"
        f"con = duckdb.connect(sys.argv[1], read_only={read_only})\n"
        "print('open', flush=True)\n"
        "time.sleep(300)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


def test_sql_and_runs_read_beside_another_reader(tmp_path: Path, home: Path) -> None:
    env = {"WATTLAKE_HOME": str(home)}
    assert wattlake("ingest", "meter-files", str(lp_file(tmp_path / "LP_1.csv", "2")), env=env)
    holder = hold_duckdb(home / "warehouse.duckdb", read_only=True)
    try:
        r = wattlake("sql", "SELECT sum(value) AS s FROM meter_reads", "-f", "json", env=env)
        assert r.returncode == 0 and json.loads(r.stdout) == [{"s": 2.0}], r.stderr
        r = wattlake("runs", "-f", "json", env=env)
        assert r.returncode == 0 and json.loads(r.stdout)[0]["status"] == "ok", r.stderr
    finally:
        holder.kill()
        holder.wait()


def test_sql_and_runs_work_while_serve_read_only_holds_the_file(tmp_path: Path, home: Path) -> None:
    import time

    import httpx

    env = {"WATTLAKE_HOME": str(home)}
    assert wattlake("ingest", "meter-files", str(lp_file(tmp_path / "LP_1.csv", "3")), env=env)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen(
        [sys.executable, "-m", "wattlake.cli", "serve", "--read-only", "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
            time.sleep(0.1)
        r = wattlake("sql", "SELECT sum(value) AS s FROM meter_reads", "-f", "json", env=env)
        assert r.returncode == 0 and json.loads(r.stdout) == [{"s": 3.0}], r.stderr
        r = wattlake("runs", "-f", "json", env=env)
        assert r.returncode == 0 and json.loads(r.stdout)[0]["status"] == "ok", r.stderr
        assert httpx.get(f"{base}/v1/meters/5/daily", timeout=10).status_code == 200
        # A writer still cannot open the file while the server reads it: one clear line.
        r = wattlake("ingest", "meter-files", str(lp_file(tmp_path / "LP_2.csv", "4")), env=env)
        assert r.returncode == 2 and "in use by another process" in r.stderr
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def test_sql_before_anything_was_loaded(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sql", "SELECT 1")
    assert code == 2 and "there is no warehouse at" in one_error_line(err)
    assert not home.exists()  # a read-only command created nothing


def test_serve_refuses_a_held_warehouse_in_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "runs")[0] == 0
    holder = hold_duckdb(home / "warehouse.duckdb", read_only=False)
    try:
        code, _, err = run(capsys, "serve", "--port", "0")
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and "in use by another process" in one_error_line(err)
