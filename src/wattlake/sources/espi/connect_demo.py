"""The Green Button Connect part of `wattlake demo`: stand-ins for the utility (Connect My Data
with OAuth), OEE's authorization service and the OEEM datastore; a client configuration is
written under $WATTLAKE_HOME/green_button/; three customers (hourly electricity; 15-minute
electricity with net metering plus daily gas; electricity plus gas) are fetched incrementally
into bronze/silver/gold and uploaded to the datastore. Run again: the stand-ins start afresh
(new tokens), the fetch asks only for what is missing and nothing is uploaded twice."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from rich.console import Console

from wattlake.pipeline import Runner
from wattlake.sims.datastore import DatastoreSim
from wattlake.sims.green_button import GreenButtonSim, demo_customers
from wattlake.sinks.oeem_datastore import push
from wattlake.sources.espi.config import load_config
from wattlake.sources.espi.fetch import run_green_button

CONFIG = """[client]
name = "demo"
timezone = "America/Los_Angeles"
custodian = "demo-utility"

[storage]
url = "{storage}"

[espi]
resource_url = "{resource}"
token_url = "{token}"
client_id_env = "WATTLAKE_DEMO_GB_CLIENT_ID"
client_secret_env = "WATTLAKE_DEMO_GB_CLIENT_SECRET"
min_interval_s = 0.06
backoff_s = 0.1

[auth_service]
url = "{auth}"
token_env = "WATTLAKE_DEMO_AUTH_TOKEN"
client_id = "1"

[datastore]
url = "{datastore}"
token_env = "WATTLAKE_DEMO_DATASTORE_TOKEN"
project_owner = 1
"""
PROJECTS = (
    "project_id,zipcode,baseline_period_end,reporting_period_start,project_cost,measure\n"
    "P-1001,94110,2025-06-01,2025-07-01,8200,attic insulation\n"
    "P-1002,94704,2025-05-01,2025-06-15,23500,rooftop solar\n"
    "P-1003,95616,2025-08-01,2025-09-01,11900,heat pump\n"
)


def run(runner: Runner, console: Console) -> list[str]:
    home = runner.settings.home / "green_button"
    home.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    with GreenButtonSim(demo_customers(now.date()), now=now, rate_limit_s=0.05) as gb, \
            DatastoreSim(home / "datastore.sqlite") as ds:  # fmt: skip
        os.environ.update({
            "WATTLAKE_DEMO_GB_CLIENT_ID": gb.client_id,
            "WATTLAKE_DEMO_GB_CLIENT_SECRET": gb.client_secret,
            "WATTLAKE_DEMO_AUTH_TOKEN": gb.auth_service.token,
            "WATTLAKE_DEMO_DATASTORE_TOKEN": ds.token,
        })  # fmt: skip
        path = home / "demo-client.toml"
        path.write_text(CONFIG.format(
            storage=(home / "bucket").resolve().as_posix(), resource=gb.resource_url,
            token=gb.token_url, auth=gb.auth_service.url, datastore=ds.url,
        ))  # fmt: skip
        (home / "projects.csv").write_text(PROJECTS)
        cfg = load_config(path)
        report = run_green_button(runner, cfg)
        pushed = push(runner, cfg, projects_csv=home / "projects.csv")
        records = ds.query("SELECT count(*) FROM consumption_record")[0][0]
    console.print(
        f"[bold]Green Button Connect[/]: {report.count('fetched')} usage points fetched, "
        f"{report.count('unchanged')} unchanged, {report.count('revoked')} revoked, "
        f"{report.count('failed')} failed; {report.rows_loaded:,} interval rows loaded; "
        f"datastore: {len(pushed.files_uploaded)} files uploaded, {records:,} records held"
    )
    console.print(f"  client config: {path}; raw files under {home / 'bucket'}")
    return [
        "/v1/usage-points?custodian=demo-utility",
        "/v1/usage-points/7002/daily?flow=19&custodian=demo-utility",  # solar export per day
        "/v1/usage-points/7003/daily?custodian=demo-utility",  # gas, therms per day
    ]
