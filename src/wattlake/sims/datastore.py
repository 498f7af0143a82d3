"""A stand-in for the OEEM energy datastore's bulk API (green-button-espi.md §5), backed by a
real SQLite database so tests can count what it holds. Written from the formats doc.

Routes under ``/api/v1/`` (bearer token; 401 without):

* ``POST project_attribute_keys/sync/`` — get-or-create by ``name``.
* ``POST projects/sync/`` — get-or-create by ``project_id``, update changed fields.
* ``POST project_attributes/sync/`` — value stored by the key's ``data_type``;
  ``error - no Project found`` / ``error - no ProjectAttributeKey found``.
* ``POST consumption_metadatas/sync/`` — get-or-create by (project, interpretation, label),
  ``unit`` updated; items carry ``id`` and the nested ``project``.
* ``POST consumption_records/sync2/`` — upsert on (``start``, ``metadata_id``) like the original
  (UPDATE the matches, INSERT the rest; the table has an index but no unique constraint);
  ``{"status": "success"}`` or 400 ``{"status": "error", "message": …}``.
* ``POST consumption_records/bulk_insert/`` — plain insert, duplicates accepted (the route a
  client must not use; counted in ``calls`` so tests can prove it was not).
* ``GET consumption_metadatas/``, ``GET consumption_records/?metadata=``, ``GET projects/``.

Sync routes answer a list of items, each with ``status`` (``created``, ``updated``,
``unchanged - same record``, ``error - …``), HTTP 400 if any item failed. ``fail_next("500",
"429")`` injects faults.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattlake.sims._server import Faults, Reply, Request, SimServer

__all__ = ["DatastoreSim", "main"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS project_owner (id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS project (
  id INTEGER PRIMARY KEY, project_id TEXT UNIQUE NOT NULL, project_owner_id INTEGER NOT NULL,
  zipcode TEXT, baseline_period_start TEXT, baseline_period_end TEXT,
  reporting_period_start TEXT, reporting_period_end TEXT);
CREATE TABLE IF NOT EXISTS project_attribute_key (
  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, display_name TEXT, data_type TEXT);
CREATE TABLE IF NOT EXISTS project_attribute (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, key_id INTEGER NOT NULL,
  boolean_value INTEGER, char_value TEXT, date_value TEXT, datetime_value TEXT,
  float_value REAL, integer_value INTEGER);
CREATE TABLE IF NOT EXISTS consumption_metadata (
  id INTEGER PRIMARY KEY, interpretation TEXT NOT NULL, unit TEXT NOT NULL,
  project_id INTEGER, label TEXT);
CREATE TABLE IF NOT EXISTS consumption_record (
  id INTEGER PRIMARY KEY, metadata_id INTEGER NOT NULL, start TEXT NOT NULL, value REAL,
  estimated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS consumption_record_lookup ON consumption_record (metadata_id, start);
"""
INTERPRETATIONS = {"E_C_S", "E_C_T", "E_C_N", "E_OSG_T", "E_OSG_C", "E_OSG_U", "NG_C_S"}
UNITS = {"KWH", "THM"}
VALUE_COLUMN = {
    "BOOLEAN": "boolean_value", "CHAR": "char_value", "DATE": "date_value",
    "DATETIME": "datetime_value", "FLOAT": "float_value", "INTEGER": "integer_value",
}  # fmt: skip
FAULTS = ("429", "500")


def _when(value: Any) -> str | None:
    """ISO text with any offset → ``YYYY-MM-DDTHH:MM:SS+00:00`` (None stays None)."""
    if value is None:
        return None
    text = str(value).replace("Z", "+00:00")
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, fmt).astimezone(UTC).isoformat()
        except ValueError:
            continue
    t = datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


class DatastoreSim(SimServer):
    def __init__(
        self,
        db_path: str | Path,
        *,
        token: str = "tokstr",
        owners: Sequence[int] = (1,),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.db_path, self.token = str(db_path), token
        self.calls: Counter[str] = Counter()
        self.faults = Faults(FAULTS)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.db_path, check_same_thread=False)
        self.db.executescript(SCHEMA)
        self.db.executemany("INSERT OR IGNORE INTO project_owner (id) VALUES (?)",
                            [(o,) for o in owners])  # fmt: skip
        self.db.commit()

    @property
    def url(self) -> str:
        return self.root_url

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.db.close()

    def fail_next(self, *kinds: str) -> None:
        self.faults.add(*kinds)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    # -- HTTP ----------------------------------------------------------------------------
    def handle(self, r: Request) -> Reply:
        route = r.path.removeprefix("/api/v1/").strip("/")
        self.calls[f"{r.method} {route}"] += 1
        if r.headers.get("authorization", "") != f"Bearer {self.token}":
            return _json(401, {"detail": "Authentication credentials were not provided."})
        fault = self.faults.take()
        if fault == "429":
            return _json(429, {"detail": "Request was throttled."})
        if fault == "500":
            return Reply(500, b"Server Error (500)")
        if r.method == "GET":
            return self._get(route, r.params)
        try:
            payload = json.loads(r.body or b"null")
        except ValueError:
            return _json(400, {"detail": "JSON parse error"})
        items = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(i, dict) for i in items):
            return _json(400, {"detail": "expected a list of objects"})
        handlers = {
            "project_attribute_keys/sync": self._keys, "projects/sync": self._projects,
            "project_attributes/sync": self._attributes,
            "consumption_metadatas/sync": self._metadatas,
        }  # fmt: skip
        with self._lock:
            if route in handlers:
                out = [handlers[route](item) for item in items]
                self.db.commit()
                bad = any(str(o.get("status", "")).startswith("error") for o in out)
                return _json(400 if bad else 200, out)
            if route in ("consumption_records/sync2", "consumption_records/bulk_insert"):
                return self._records(items, upsert=route.endswith("sync2"))
        return _json(404, {"detail": "Not found."})

    def _get(self, route: str, params: dict[str, str]) -> Reply:
        if route == "consumption_records":
            rows = self.query(
                "SELECT id, metadata_id, start, value, estimated FROM consumption_record "
                "WHERE (? IS NULL OR metadata_id = ?) ORDER BY metadata_id, start",
                (params.get("metadata"), params.get("metadata")),
            )
            keys = ("id", "metadata_id", "start", "value", "estimated")
            return _json(200, [dict(zip(keys, r, strict=True)) for r in rows])
        if route == "consumption_metadatas":
            return _json(200, [self._metadata_item(r[0], "") for r in
                               self.query("SELECT id FROM consumption_metadata ORDER BY id")])  # fmt: skip
        if route == "projects":
            rows = self.query("SELECT project_id, zipcode FROM project ORDER BY id")
            return _json(200, [{"project_id": p, "zipcode": z} for p, z in rows])
        return _json(404, {"detail": "Not found."})

    # -- sync routes (called under the lock) ---------------------------------------------
    def _keys(self, item: dict[str, Any]) -> dict[str, Any]:
        if not item.get("name") or item.get("data_type") not in VALUE_COLUMN:
            return {**item, "status": "error - missing field"}
        row = self.db.execute("SELECT id, display_name, data_type FROM project_attribute_key "
                              "WHERE name = ?", (item["name"],)).fetchone()  # fmt: skip
        if row is None:
            cur = self.db.execute(
                "INSERT INTO project_attribute_key (name, display_name, data_type) VALUES (?,?,?)",
                (item["name"], item.get("display_name"), item["data_type"]),
            )
            return {**item, "id": cur.lastrowid, "status": "created"}
        if (row[1], row[2]) == (item.get("display_name"), item["data_type"]):
            return {**item, "id": row[0], "status": "unchanged - same record"}
        self.db.execute("UPDATE project_attribute_key SET display_name = ?, data_type = ? "
                        "WHERE id = ?", (item.get("display_name"), item["data_type"], row[0]))  # fmt: skip
        return {**item, "id": row[0], "status": "updated"}

    def _projects(self, item: dict[str, Any]) -> dict[str, Any]:
        fields = ("project_owner_id", "zipcode", "baseline_period_start", "baseline_period_end",
                  "reporting_period_start", "reporting_period_end")  # fmt: skip
        if not item.get("project_id") or "project_owner_id" not in item:
            return {**item, "status": "error - missing field"}
        owner = self.db.execute("SELECT id FROM project_owner WHERE id = ?",
                                (item["project_owner_id"],)).fetchone()  # fmt: skip
        present = [f for f in fields if f in item]
        try:
            values = [item.get(f) if "period" not in f else _when(item.get(f)) for f in present]
        except ValueError:
            values = None
        row = self.db.execute(f"SELECT id, {', '.join(fields)} FROM project WHERE project_id = ?",
                              (item["project_id"],)).fetchone()  # fmt: skip
        if owner is None or values is None:
            return {
                **item,
                "status": f"error - bad field value - {'create' if row is None else 'update'}",
            }
        if row is None:
            cols = ", ".join(["project_id", *present])
            marks = ", ".join("?" * (len(present) + 1))
            cur = self.db.execute(f"INSERT INTO project ({cols}) VALUES ({marks})",
                                  (item["project_id"], *values))  # fmt: skip
            return {**item, "id": cur.lastrowid, "status": "created"}
        old = dict(zip(fields, row[1:], strict=True))
        if all(old[f] == v for f, v in zip(present, values, strict=True)):
            return {**item, "id": row[0], "status": "unchanged - same record"}
        sets = ", ".join(f"{f} = ?" for f in present)
        self.db.execute(f"UPDATE project SET {sets} WHERE id = ?", (*values, row[0]))
        return {**item, "id": row[0], "status": "updated"}

    def _attributes(self, item: dict[str, Any]) -> dict[str, Any]:
        project = self.db.execute("SELECT id FROM project WHERE project_id = ?",
                                  (item.get("project_project_id"),)).fetchone()  # fmt: skip
        if project is None:
            return {**item, "status": "error - no Project found"}
        key = self.db.execute("SELECT id, data_type FROM project_attribute_key WHERE name = ?",
                              (item.get("project_attribute_key_name"),)).fetchone()  # fmt: skip
        if key is None:
            return {**item, "status": "error - no ProjectAttributeKey found"}
        column = VALUE_COLUMN[key[1]]
        old = self.db.execute(f"SELECT id, {column} FROM project_attribute WHERE project_id = ? "
                              "AND key_id = ?", (project[0], key[0])).fetchone()  # fmt: skip
        value = item.get("value")
        if old is None:
            self.db.execute(f"INSERT INTO project_attribute (project_id, key_id, {column}) "
                            "VALUES (?,?,?)", (project[0], key[0], value))  # fmt: skip
            return {**item, "status": "created"}
        if old[1] == value:
            return {**item, "status": "unchanged - same record"}
        self.db.execute(f"UPDATE project_attribute SET {column} = ? WHERE id = ?", (value, old[0]))
        return {**item, "status": "updated"}

    def _metadata_item(self, mid: int, status: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT m.id, m.interpretation, m.unit, m.label, p.id, p.project_id "
            "FROM consumption_metadata m LEFT JOIN project p ON p.id = m.project_id "
            "WHERE m.id = ?", (mid,)).fetchone()  # fmt: skip
        return {"id": row[0], "interpretation": row[1], "unit": row[2], "label": row[3],
                "project": {"id": row[4], "project_id": row[5]}, "status": status}  # fmt: skip

    def _metadatas(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("interpretation") not in INTERPRETATIONS or item.get("unit") not in UNITS:
            return {**item, "status": "error - missing field"}
        project = self.db.execute("SELECT id FROM project WHERE project_id = ?",
                                  (item.get("project_project_id"),)).fetchone()  # fmt: skip
        if project is None:
            return {**item, "status": "error - no Project found"}
        row = self.db.execute(
            "SELECT id, unit FROM consumption_metadata WHERE project_id = ? AND interpretation = ? "
            "AND label IS ?", (project[0], item["interpretation"], item.get("label"))).fetchone()  # fmt: skip
        if row is None:
            cur = self.db.execute(
                "INSERT INTO consumption_metadata (interpretation, unit, project_id, label) "
                "VALUES (?,?,?,?)", (item["interpretation"], item["unit"], project[0], item.get("label")))  # fmt: skip
            return self._metadata_item(int(cur.lastrowid or 0), "created")
        if row[1] == item["unit"]:
            return self._metadata_item(row[0], "unchanged - same record")
        self.db.execute(
            "UPDATE consumption_metadata SET unit = ? WHERE id = ?", (item["unit"], row[0])
        )
        return self._metadata_item(row[0], "updated")

    def _records(self, items: list[dict[str, Any]], *, upsert: bool) -> Reply:
        need = ("start", "value", "estimated", "metadata_id")
        missing = [i for i in items if any(k not in i for k in need)]
        if missing:
            return _json(400, {"status": "error", "message": f"missing field in {missing[0]}"})
        try:
            rows = [(int(i["metadata_id"]), _when(i["start"]), i["value"], bool(i["estimated"]))
                    for i in items]  # fmt: skip
        except (ValueError, TypeError) as exc:
            return _json(400, {"status": "error", "message": str(exc)})
        known = {r[0] for r in self.db.execute("SELECT id FROM consumption_metadata")}
        if any(r[0] not in known for r in rows):
            return _json(400, {"status": "error", "message": "unknown metadata_id"})
        if upsert:  # UPDATE ... FROM tmp on (start, metadata_id), then INSERT the rest
            self.db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS tmp (metadata_id, start, value, estimated)"
            )
            self.db.execute("DELETE FROM tmp")
            self.db.executemany("INSERT INTO tmp VALUES (?,?,?,?)", rows)
            self.db.execute(
                "UPDATE consumption_record SET value = tmp.value, estimated = tmp.estimated "
                "FROM tmp WHERE consumption_record.start = tmp.start "
                "AND consumption_record.metadata_id = tmp.metadata_id")  # fmt: skip
            self.db.execute(
                "INSERT INTO consumption_record (metadata_id, start, value, estimated) "
                "SELECT metadata_id, start, value, estimated FROM tmp WHERE NOT EXISTS (SELECT 1 "
                "FROM consumption_record c WHERE c.start = tmp.start "
                "AND c.metadata_id = tmp.metadata_id)")  # fmt: skip
        else:
            self.db.executemany("INSERT INTO consumption_record (metadata_id, start, value, "
                                "estimated) VALUES (?,?,?,?)", rows)  # fmt: skip
        self.db.commit()
        return _json(200, {"status": "success"})


def _json(status: int, payload: object) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wattlake.sims.datastore --db ds.sqlite --port 8003``: serve until Ctrl-C."""
    ap = argparse.ArgumentParser(prog="python -m wattlake.sims.datastore")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8003)
    ap.add_argument("--db", default="datastore.sqlite")
    ap.add_argument("--token", default="tokstr")
    a = ap.parse_args(argv)
    sim = DatastoreSim(a.db, token=a.token, host=a.host, port=a.port)
    print(f"datastore stand-in at {sim.start()}/api/v1/ (database {a.db})", flush=True)
    sim.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
