/* Hosting capacity: feeders by maximum hosting capacity (MW) per utility (/v1/feeders and
   /v1/feeders/der-counts), and one feeder's installed vs planned DER by type (/v1/feeders/{uid}). */
"use strict";

WL.boot(async () => {
  const { el, state } = WL;
  const app = WL.main();
  WL.status("Loading feeders…");
  const [feeders, counts] = await Promise.all([
    WL.fetchAll("/v1/feeders"), WL.fetchAll("/v1/feeders/der-counts"),
  ]);
  const byUid = new Map(counts.map((c) => [c.feeder_uid, c]));
  for (const f of feeders) {
    const c = byUid.get(f.feeder_uid) || {};
    f.installed_count = c.installed_count || 0;
    f.installed_kw = c.installed_kw || 0;
    f.planned_count = c.planned_count || 0;
    f.planned_kw = c.planned_kw || 0;
  }
  const utilities = [...new Set(feeders.map((f) => f.utility))].sort();

  const utility = WL.select([["", "All utilities"], ...utilities.map((u) => [u, u])],
    state.get("utility", ""), () => draw());
  utility.id = "utility";
  const text = el("input", { type: "search", id: "feeder-filter", placeholder: "feeder or substation",
    value: state.get("q", "") });
  text.addEventListener("input", () => draw());
  const minHc = el("input", { type: "number", id: "min-hc", min: "0", step: "0.5",
    value: state.get("min_hc", "") });
  minHc.addEventListener("input", () => draw());
  const hist = WL.chartBox("hc-histogram", "Feeders by maximum hosting capacity");
  const derChart = WL.chartBox("der-chart", "One feeder's DER by type");
  const tableBox = el("div", { id: "feeder-table" });
  const figures = el("div", { className: "figures", id: "hc-figures" });
  const detailTitle = el("h2", { id: "feeder-title" }, "One feeder");
  const detailTable = el("div", { id: "der-table" });

  app.append(
    el("div", { className: "controls" }, WL.field("Utility", utility),
      WL.field("Feeder contains", text), WL.field("Max HC at least (MW)", minHc)),
    figures,
    el("h2", {}, "Feeders by maximum hosting capacity (MW)"), hist.box,
    el("h2", {}, "Feeders (click one for its DER)"), tableBox,
    detailTitle, el("div", { className: "grid2" }, derChart.box, detailTable),
  );

  function filtered() {
    const u = utility.value;
    const q = text.value.trim().toLowerCase();
    const min = minHc.value === "" ? null : Number(minHc.value);
    return feeders.filter((f) => (!u || f.utility === u)
      && (!q || f.native_feeder_id.toLowerCase().includes(q)
        || (f.substation || "").toLowerCase().includes(q))
      && (min === null || (f.max_hc_mw !== null && f.max_hc_mw >= min)));
  }

  function draw() {
    state.set({ utility: utility.value, q: text.value, min_hc: minHc.value });
    const rows = filtered();
    const withHc = rows.filter((f) => f.max_hc_mw !== null);
    const top = withHc.reduce((m, f) => Math.max(m, f.max_hc_mw), 0);
    const width = top <= 20 ? 0.5 : Math.ceil(top / 40);
    const nBins = Math.max(1, Math.ceil((top + 1e-9) / width));
    const labels = Array.from({ length: nBins }, (_, i) => `${WL.fmt(i * width, 1)}–${WL.fmt((i + 1) * width, 1)}`);
    const shownUtilities = utilities.filter((u) => withHc.some((f) => f.utility === u));
    const datasets = shownUtilities.map((u) => {
      const data = new Array(nBins).fill(0);
      for (const f of withHc) {
        if (f.utility === u) data[Math.min(nBins - 1, Math.floor(f.max_hc_mw / width))] += 1;
      }
      const color = WL.PALETTE[utilities.indexOf(u) % WL.PALETTE.length];
      return { label: u, data, backgroundColor: color, stack: "hc" };
    });
    WL.chart(hist.canvas, {
      type: "bar", data: { labels, datasets },
      options: { scales: {
        x: { stacked: true, title: { display: true, text: "maximum hosting capacity, MW" } },
        y: { stacked: true, title: { display: true, text: "feeders" } } } },
    });
    figures.replaceChildren(
      el("div", { className: "figure" }, "Feeders", el("b", { id: "n-feeders" }, rows.length.toLocaleString("en-US"))),
      el("div", { className: "figure" }, "Mean max HC (MW)",
        el("b", { id: "mean-hc" }, WL.fmt(WL.mean(withHc.map((f) => f.max_hc_mw)), 2))),
      el("div", { className: "figure" }, "Installed DER projects",
        el("b", {}, rows.reduce((n, f) => n + f.installed_count, 0).toLocaleString("en-US"))),
      el("div", { className: "figure" }, "Planned DER projects",
        el("b", {}, rows.reduce((n, f) => n + f.planned_count, 0).toLocaleString("en-US"))),
    );
    const f2 = (v) => WL.fmt(v, 2);
    const f0 = (v) => WL.fmt(v, 0);
    tableBox.replaceChildren(WL.table([
      { key: "native_feeder_id", label: "Feeder" }, { key: "utility", label: "Utility" },
      { key: "substation", label: "Substation" },
      { key: "voltage_kv", label: "kV", num: true, fmt: f2 },
      { key: "max_hc_mw", label: "Max HC MW", num: true, fmt: f2 },
      { key: "min_hc_mw", label: "Min HC MW", num: true, fmt: f2 },
      { key: "installed_count", label: "Installed DER", num: true, fmt: f0 },
      { key: "installed_kw", label: "Installed kW", num: true, fmt: f0 },
      { key: "planned_count", label: "Planned DER", num: true, fmt: f0 },
      { key: "planned_kw", label: "Planned kW", num: true, fmt: f0 },
    ], rows, { id: "feeders", sortKey: "max_hc_mw", sortDesc: true, max: 200,
      onRow: (r) => showFeeder(r.feeder_uid) }));
    WL.status(`${feeders.length.toLocaleString("en-US")} feeders from ${utilities.length} utilities.`);
  }

  async function showFeeder(uid) {
    if (!uid) return;
    state.set({ feeder: uid });
    const f = await WL.api(`/v1/feeders/${encodeURIComponent(uid)}`);
    detailTitle.textContent = `Feeder ${f.native_feeder_id} (${f.utility}): DER by type, kW`;
    const types = f.der_by_type.map((d) => d.der_type);
    WL.chart(derChart.canvas, {
      type: "bar",
      data: { labels: types, datasets: [
        { label: "Installed kW", data: f.der_by_type.map((d) => d.installed_kw), backgroundColor: "#2ca02c" },
        { label: "Planned kW", data: f.der_by_type.map((d) => d.planned_kw), backgroundColor: "#ff7f0e" },
      ] },
      options: { scales: { y: { title: { display: true, text: "kW" } } } },
    });
    detailTable.replaceChildren(WL.table([
      { key: "der_type", label: "Type" },
      { key: "installed_count", label: "Installed", num: true },
      { key: "installed_kw", label: "Installed kW", num: true, fmt: (v) => WL.fmt(v, 1) },
      { key: "planned_count", label: "Planned", num: true },
      { key: "planned_kw", label: "Planned kW", num: true, fmt: (v) => WL.fmt(v, 1) },
    ], f.der_by_type, { id: "der-by-type" }));
  }

  draw();
  const wanted = state.get("feeder", "");
  const first = feeders.find((f) => f.feeder_uid === wanted)
    || filtered().filter((f) => f.max_hc_mw !== null).sort((a, b) => b.max_hc_mw - a.max_hc_mw)[0];
  if (first) await showFeeder(first.feeder_uid);
});
