/* Wind SCADA: one turbine's 10-minute mean with its min-max band for a signal, and the power
   curve (10-minute mean power against mean wind speed), from /v1/scada/turbines and
   /v1/scada/{turbine}/10min. Times are UTC; bins are [start, start + 10 min). Units are the
   source's (wind speed m/s, power kW, temperature °C in the stand-in). */
"use strict";

WL.boot(async () => {
  const { el, state } = WL;
  const app = WL.main();
  const UNITS = { wind_speed: "m/s", power: "kW", ambient_temperature: "°C" };
  WL.status("Loading turbines…");
  const turbines = await WL.fetchAll("/v1/scada/turbines");
  if (!turbines.length) {
    WL.status("No SCADA data loaded yet (wattlake run scada).");
    return;
  }
  const turbineSel = WL.select(turbines.map((t) => [t.turbine, t.turbine]),
    state.get("turbine", turbines[0].turbine), () => load());
  turbineSel.id = "turbine";
  if (!turbines.some((t) => t.turbine === turbineSel.value)) turbineSel.value = turbines[0].turbine;
  const start = el("input", { type: "date", id: "scada-start", value: state.get("start", "") });
  start.addEventListener("change", () => load());
  const span = WL.select([["1", "1 day"], ["7", "7 days"], ["31", "31 days"]],
    state.get("days", "7"), () => load());
  span.id = "scada-days";
  const signalSel = el("select", { id: "signal" });
  signalSel.addEventListener("change", () => draw());
  const band = WL.chartBox("scada-chart", "10-minute mean with min-max band");
  const curve = WL.chartBox("power-curve", "Power curve: power against wind speed");
  const figures = el("div", { className: "figures", id: "scada-figures" });
  app.append(
    el("div", { className: "controls" }, WL.field("Turbine", turbineSel),
      WL.field("From (UTC day)", start), WL.field("Span", span), WL.field("Signal", signalSel)),
    figures, el("h2", { id: "scada-title" }, "10-minute statistics"), band.box,
    el("h2", {}, "Power curve (10-minute means)"), curve.box,
  );
  let rows = [];

  const stamp = (ms) => new Date(ms).toISOString().slice(5, 16).replace("T", " ");

  async function load() {
    const t = turbines.find((x) => x.turbine === turbineSel.value);
    const days = Number(span.value);
    if (!start.value) {
      // default: the last `days` days that have data
      const last = new Date(t.last_bucket_utc);
      const first = new Date(Math.max(new Date(t.first_bucket_utc).getTime(),
        Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), last.getUTCDate()) - (days - 1) * 86400000));
      start.value = WL.isoDay(first);
    }
    const end = WL.addDays(start.value, days);
    state.set({ turbine: t.turbine, start: start.value, days: span.value });
    WL.status(`Loading ${t.turbine}…`);
    rows = await WL.fetchAll(`/v1/scada/${encodeURIComponent(t.turbine)}/10min`,
      { start: `${start.value}T00:00:00Z`, end: `${end}T00:00:00Z` });
    const signals = [...new Set(rows.map((r) => r.signal))].sort();
    const keep = signalSel.value || state.get("signal", "");
    signalSel.replaceChildren(...signals.map((s) => el("option", { value: s }, s)));
    signalSel.value = signals.includes(keep) ? keep : (signals.includes("power") ? "power" : signals[0] || "");
    draw();
    drawCurve();
    WL.status(`${turbines.length} turbine(s); ${t.turbine}: ${rows.length.toLocaleString("en-US")} 10-minute rows from ${start.value} to ${end} (UTC).`);
  }

  function draw() {
    state.set({ signal: signalSel.value });
    const sig = signalSel.value;
    const mine = rows.filter((r) => r.signal === sig);
    const unit = UNITS[sig] || "";
    const xy = (k) => mine.map((r) => ({ x: Date.parse(r.bucket_start_utc), y: r[k] }));
    const lo = Date.parse(`${start.value}T00:00:00Z`);
    const hi = lo + Number(span.value) * 86400000;
    WL.chart(band.canvas, {
      type: "line",
      data: { datasets: [
        { label: "Max", data: xy("max"), borderColor: "#9ab7e0", backgroundColor: "rgba(31,119,180,.18)",
          pointRadius: 0, borderWidth: 1, fill: false },
        { label: "Min", data: xy("min"), borderColor: "#9ab7e0", backgroundColor: "rgba(31,119,180,.18)",
          pointRadius: 0, borderWidth: 1, fill: "-1" },
        { label: "Mean", data: xy("mean"), borderColor: "#14213d", backgroundColor: "#14213d",
          pointRadius: 0, borderWidth: 1.2, fill: false },
      ] },
      options: {
        parsing: false, normalized: true, spanGaps: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: { tooltip: { callbacks: { title: (items) => `${stamp(items[0].parsed.x)} UTC` } } },
        scales: {
          x: { type: "linear", min: lo, max: hi, ticks: { callback: (v) => stamp(v), maxTicksLimit: 8 } },
          y: { title: { display: true, text: unit ? `${sig}, ${unit}` : sig } },
        },
      },
    });
    document.getElementById("scada-title").textContent =
      `${sig}: 10-minute mean with min–max band${unit ? ` (${unit})` : ""}`;
    figures.replaceChildren(
      el("div", { className: "figure" }, "10-minute bins", el("b", { id: "scada-bins" }, String(mine.length))),
      el("div", { className: "figure" }, `Mean ${sig}${unit ? ` (${unit})` : ""}`,
        el("b", { id: "scada-mean" }, WL.fmt(WL.mean(mine.map((r) => r.mean)), 2))),
    );
  }

  function drawCurve() {
    const wind = new Map(rows.filter((r) => r.signal === "wind_speed").map((r) => [r.bucket_start_utc, r.mean]));
    const points = rows.filter((r) => r.signal === "power" && wind.has(r.bucket_start_utc)
      && r.mean !== null && wind.get(r.bucket_start_utc) !== null)
      .map((r) => ({ x: wind.get(r.bucket_start_utc), y: r.mean }))
      .sort((a, b) => a.x - b.x); // unparsed data must come in x order
    WL.chart(curve.canvas, {
      type: "scatter",
      data: { datasets: [{ label: "10-minute means", data: points, pointRadius: 1.5,
        backgroundColor: "rgba(214,39,40,.45)", borderColor: "rgba(214,39,40,.45)" }] },
      options: { parsing: false, plugins: { legend: { display: false } },
        scales: { x: { type: "linear", title: { display: true, text: "wind speed, m/s" } },
          y: { title: { display: true, text: "power, kW" } } } },
    });
  }

  await load();
});
