/* Green Button: a usage point's daily consumption (flow 1) vs export (flow 19), in kWh or
   therms per local day of the utility (/v1/usage-points and /v1/usage-points/{id}/daily). */
"use strict";

WL.boot(async () => {
  const { el, state } = WL;
  const app = WL.main();
  WL.status("Loading usage points…");
  const points = await WL.fetchAll("/v1/usage-points");
  if (!points.length) {
    WL.status("No Green Button data loaded yet (wattlake ingest espi FILE…).");
    return;
  }
  const key = (p) => `${p.custodian}|${p.usage_point_id}`;
  const pointSel = WL.select(points.map((p) => [key(p),
    `${p.usage_point_id} (${p.custodian}, ${p.service || "service " + p.service_kind})`]),
  state.get("point", key(points[0])), () => load());
  pointSel.id = "usage-point";
  if (!points.some((p) => key(p) === pointSel.value)) pointSel.value = key(points[0]);
  const start = el("input", { type: "date", id: "gb-start", value: state.get("start", "") });
  const end = el("input", { type: "date", id: "gb-end", value: state.get("end", "") });
  start.addEventListener("change", () => load());
  end.addEventListener("change", () => load());
  const chartBox = WL.chartBox("gb-chart", "Daily consumption and export");
  const figures = el("div", { className: "figures", id: "gb-figures" });
  const tableBox = el("div", { id: "gb-table" });
  app.append(
    el("div", { className: "controls" }, WL.field("Usage point", pointSel),
      WL.field("From (local day)", start), WL.field("To", end)),
    figures, el("h2", { id: "gb-title" }, "Daily energy"), chartBox.box, tableBox,
  );

  async function load() {
    state.set({ point: pointSel.value, start: start.value, end: end.value });
    const p = points.find((x) => key(x) === pointSel.value);
    const rows = await WL.fetchAll(`/v1/usage-points/${encodeURIComponent(p.usage_point_id)}/daily`,
      { custodian: p.custodian, start: start.value, end: end.value });
    const days = new Map();
    let unit = "";
    for (const r of rows) {
      const d = days.get(r.local_date) || { local_date: r.local_date, consumption: null, export: null, net: null, completeness: null };
      unit = unit || r.unit;
      if (r.flow_direction === 1) { d.consumption = r.consumption; d.completeness = r.completeness; }
      if (r.flow_direction === 19) d.export = r.export;
      if (r.flow_direction === 4) d.net = r.net;
      days.set(r.local_date, d);
    }
    const list = [...days.values()].sort((a, b) => (a.local_date < b.local_date ? -1 : 1));
    for (const d of list) {
      if (d.net === null && d.consumption !== null) d.net = d.consumption - (d.export || 0);
    }
    const hasExport = list.some((d) => d.export !== null);
    const datasets = [
      { type: "bar", label: `Consumption (${unit})`, data: list.map((d) => d.consumption), backgroundColor: "#1f77b4" },
    ];
    if (hasExport) {
      datasets.push({ type: "bar", label: `Export (${unit})`, data: list.map((d) => d.export), backgroundColor: "#2ca02c" });
      datasets.push({ type: "line", label: `Net (${unit})`, data: list.map((d) => d.net), borderColor: "#14213d",
        backgroundColor: "#14213d", pointRadius: list.length > 60 ? 0 : 2, borderWidth: 1.5 });
    }
    WL.chart(chartBox.canvas, {
      data: { labels: list.map((d) => d.local_date), datasets },
      options: { interaction: { mode: "index", intersect: false },
        scales: { y: { title: { display: true, text: `${unit} per day` } } } },
    });
    const total = (k) => list.reduce((s, d) => s + (d[k] || 0), 0);
    document.getElementById("gb-title").textContent = `Daily energy, ${unit} per local day (${p.time_zone || "UTC"})`;
    figures.replaceChildren(
      el("div", { className: "figure" }, "Days", el("b", {}, String(list.length))),
      el("div", { className: "figure" }, `Consumption (${unit})`, el("b", { id: "gb-consumption" }, WL.fmt(total("consumption"), 2))),
      el("div", { className: "figure" }, `Export (${unit})`, el("b", { id: "gb-export" }, hasExport ? WL.fmt(total("export"), 2) : "–")),
    );
    const f3 = (v) => WL.fmt(v, 3);
    tableBox.replaceChildren(WL.table([
      { key: "local_date", label: "Day" },
      { key: "consumption", label: "Consumption", num: true, fmt: f3 },
      { key: "export", label: "Export", num: true, fmt: f3 },
      { key: "net", label: "Net", num: true, fmt: f3 },
      { key: "completeness", label: "Covered", num: true, fmt: (v) => (v === null ? "–" : `${Math.round(v * 100)}%`) },
    ], list, { id: "gb-days" }));
    WL.status(`${points.length} usage points; ${list.length} days for ${p.usage_point_id}.`);
  }

  await load();
});
