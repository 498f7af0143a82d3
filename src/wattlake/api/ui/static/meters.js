/* Meters: one meter's daily minimum / average / maximum per data type (/v1/meters and
   /v1/meters/{code}/daily). Days are the meter's local days; values in the data type's units. */
"use strict";

WL.boot(async () => {
  const { el, state } = WL;
  const app = WL.main();
  WL.status("Loading meters…");
  const meters = await WL.fetchAll("/v1/meters");
  if (!meters.length) {
    WL.status("No meter data loaded yet (wattlake ingest meter-files FILE…).");
    return;
  }
  const key = (m) => `${m.meter_code}|${m.serial}`;
  const meterSel = WL.select(meters.map((m) => [key(m),
    m.meter_code === m.serial ? m.meter_code : `${m.meter_code} (serial ${m.serial})`]),
  state.get("meter", key(meters[0])), () => load());
  meterSel.id = "meter";
  if (!meters.some((m) => key(m) === meterSel.value)) meterSel.value = key(meters[0]);
  const typeSel = el("select", { id: "data-type" });
  typeSel.addEventListener("change", () => draw());
  const band = WL.chartBox("meter-chart", "Daily minimum, average and maximum");
  const figures = el("div", { className: "figures", id: "meter-figures" });
  const tableBox = el("div", { id: "meter-table" });
  app.append(
    el("div", { className: "controls" }, WL.field("Meter", meterSel), WL.field("Data type", typeSel)),
    figures, el("h2", { id: "meter-title" }, "Daily band"), band.box, tableBox,
  );
  let rows = [];

  async function load() {
    const m = meters.find((x) => key(x) === meterSel.value);
    rows = await WL.fetchAll(`/v1/meters/${encodeURIComponent(m.meter_code)}/daily`,
      { serial: m.serial });
    const types = [...new Set(rows.map((r) => r.data_type))].sort();
    const keep = typeSel.value || state.get("data_type", "");
    typeSel.replaceChildren(...types.map((t) => el("option", { value: t }, t)));
    typeSel.value = types.includes(keep) ? keep
      : (types.find((t) => t.startsWith("Import Wh")) || types[0] || "");
    draw();
    WL.status(`${meters.length} meters; ${m.meter_code}: ${m.first_date} to ${m.last_date}.`);
  }

  function draw() {
    state.set({ meter: meterSel.value, data_type: typeSel.value });
    const mine = rows.filter((r) => r.data_type === typeSel.value)
      .sort((a, b) => (a.local_date < b.local_date ? -1 : 1));
    const units = mine.length ? mine[0].units : "";
    const labels = mine.map((r) => r.local_date);
    WL.chart(band.canvas, {
      type: "line",
      data: { labels, datasets: [
        { label: "Maximum", data: mine.map((r) => r.max_value), borderColor: "#9ab7e0",
          backgroundColor: "rgba(31,119,180,.18)", pointRadius: 0, borderWidth: 1, fill: false },
        { label: "Minimum", data: mine.map((r) => r.min_value), borderColor: "#9ab7e0",
          backgroundColor: "rgba(31,119,180,.18)", pointRadius: 0, borderWidth: 1, fill: "-1" },
        { label: "Average", data: mine.map((r) => r.avg_value), borderColor: "#14213d",
          backgroundColor: "#14213d", pointRadius: 2, borderWidth: 2, fill: false },
      ] },
      options: { interaction: { mode: "index", intersect: false },
        scales: { y: { title: { display: true, text: units } } } },
    });
    document.getElementById("meter-title").textContent =
      `Daily band: ${typeSel.value} (${units}, per reading)`;
    figures.replaceChildren(
      el("div", { className: "figure" }, "Days", el("b", {}, String(mine.length))),
      el("div", { className: "figure" }, `Mean of daily averages (${units})`,
        el("b", { id: "meter-mean" }, WL.fmt(WL.mean(mine.map((r) => r.avg_value)), 3))),
      el("div", { className: "figure" }, `Highest reading (${units})`,
        el("b", {}, WL.fmt(mine.length ? Math.max(...mine.map((r) => r.max_value)) : null, 3))),
    );
    const f3 = (v) => WL.fmt(v, 3);
    tableBox.replaceChildren(WL.table([
      { key: "local_date", label: "Day" }, { key: "min_value", label: "Min", num: true, fmt: f3 },
      { key: "avg_value", label: "Average", num: true, fmt: f3 },
      { key: "max_value", label: "Max", num: true, fmt: f3 },
      { key: "n_readings", label: "Readings", num: true },
    ], mine, { id: "meter-days" }));
  }

  await load();
});
