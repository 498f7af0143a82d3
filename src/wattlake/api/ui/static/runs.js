/* Runs: the recent runs (/v1/runs) with their steps' status (/v1/runs/{id}) and the rows
   a run rejected (/v1/runs/{id}/rejects). Times are UTC. */
"use strict";

WL.boot(async () => {
  const { el, state } = WL;
  const app = WL.main();
  WL.status("Loading runs…");
  const runs = await WL.api("/v1/runs", { limit: 50 });
  const details = await Promise.all(runs.map((r) => WL.api(`/v1/runs/${encodeURIComponent(r.run_id)}`)));
  const steps = new Map(details.map((d) => [d.run_id, d.steps]));
  const pipelines = [...new Set(runs.map((r) => r.pipeline))].sort();
  const pipeSel = WL.select([["", "All pipelines"], ...pipelines.map((p) => [p, p])],
    state.get("pipeline", ""), () => draw());
  pipeSel.id = "pipeline";
  const statusSel = WL.select([["", "Any status"], ["ok", "ok"], ["partial", "partial"],
    ["failed", "failed"], ["running", "running"]], state.get("status", ""), () => draw());
  statusSel.id = "run-status";
  const chartBox = WL.chartBox("runs-chart", "Rows loaded and rejected per run");
  const tableBox = el("div", { id: "runs-table" });
  const detailTitle = el("h2", { id: "run-title" }, "One run");
  const detail = el("div", { id: "run-detail" });
  app.append(
    el("div", { className: "controls" }, WL.field("Pipeline", pipeSel), WL.field("Status", statusSel)),
    el("h2", {}, "Rows per run"), chartBox.box, el("h2", {}, "Recent runs (click one)"), tableBox,
    detailTitle, detail,
  );

  function badges(runId) {
    const counts = {};
    for (const s of steps.get(runId) || []) counts[s.status] = (counts[s.status] || 0) + 1;
    return el("span", {}, Object.entries(counts).map(([k, n]) => el("span", { className: `badge ${k}` }, `${k} ${n}`)));
  }

  function seconds(r) {
    if (!r.finished_at) return null;
    return (new Date(r.finished_at) - new Date(r.started_at)) / 1000;
  }

  function draw() {
    state.set({ pipeline: pipeSel.value, status: statusSel.value });
    const rows = runs.filter((r) => (!pipeSel.value || r.pipeline === pipeSel.value)
      && (!statusSel.value || r.status === statusSel.value));
    const chrono = rows.slice().reverse();
    WL.chart(chartBox.canvas, {
      type: "bar",
      data: { labels: chrono.map((r) => `${r.pipeline} ${r.started_at.slice(0, 16).replace("T", " ")}`),
        datasets: [
          { label: "Rows loaded", data: chrono.map((r) => r.rows_loaded), backgroundColor: "#2ca02c", stack: "r" },
          { label: "Rows rejected", data: chrono.map((r) => r.rows_rejected), backgroundColor: "#d62728", stack: "r" },
        ] },
      options: { scales: { x: { stacked: true, ticks: { display: chrono.length <= 20 } },
        y: { stacked: true, title: { display: true, text: "rows" } } } },
    });
    tableBox.replaceChildren(WL.table([
      { key: "run_id", label: "Run" }, { key: "pipeline", label: "Pipeline" },
      { key: "status", label: "Status", cell: (r) => el("span", { className: `badge ${r.status}` }, r.status) },
      { key: "started_at", label: "Started (UTC)", fmt: (v) => v.slice(0, 19).replace("T", " ") },
      { key: "seconds", label: "Seconds", num: true, sort: seconds, cell: (r) => WL.fmt(seconds(r), 2) },
      { key: "steps", label: "Steps", cell: (r) => badges(r.run_id), sort: (r) => (steps.get(r.run_id) || []).length },
      { key: "rows_read", label: "Read", num: true, fmt: (v) => WL.fmt(v, 0) },
      { key: "rows_loaded", label: "Loaded", num: true, fmt: (v) => WL.fmt(v, 0) },
      { key: "rows_rejected", label: "Rejected", num: true, fmt: (v) => WL.fmt(v, 0) },
      { key: "error", label: "Error" },
    ], rows, { id: "runs", onRow: (r) => showRun(r) }));
    WL.status(`${runs.length} most recent runs.`);
  }

  async function showRun(r) {
    state.set({ run: r.run_id });
    detailTitle.textContent = `Run ${r.run_id} (${r.pipeline}, ${r.status})`;
    const rejects = r.rows_rejected > 0
      ? await WL.api(`/v1/runs/${encodeURIComponent(r.run_id)}/rejects`, { limit: 200 }) : [];
    detail.replaceChildren(
      WL.table([
        { key: "step_no", label: "#", num: true }, { key: "step", label: "Step" },
        { key: "target", label: "Target" },
        { key: "status", label: "Status", cell: (s) => el("span", { className: `badge ${s.status}` }, s.status) },
        { key: "rows_read", label: "Read", num: true }, { key: "rows_loaded", label: "Loaded", num: true },
        { key: "rows_rejected", label: "Rejected", num: true },
        { key: "seconds", label: "Seconds", num: true, fmt: (v) => WL.fmt(v, 3) },
        { key: "error", label: "Error" },
      ], steps.get(r.run_id) || [], { id: "steps", max: 500 }),
      el("h2", {}, `Rejected rows (${r.rows_rejected}, first 200)`),
      WL.table([
        { key: "source_file", label: "File" }, { key: "line", label: "Line", num: true },
        { key: "field", label: "Field" }, { key: "rule", label: "Rule" },
        { key: "raw", label: "Raw", cell: (x) => el("pre", { className: "raw" }, x.raw) },
      ], rejects, { id: "rejects" }),
    );
  }

  draw();
  const wanted = runs.find((r) => r.run_id === state.get("run", "")) || runs[0];
  if (wanted) await showRun(wanted);
  else WL.status("No runs yet.");
});
