/* CAISO: daily average / on-peak / off-peak LMP per node (/v1/lmp/daily) and one day's
   intervals with their components stacked (/v1/lmp). Prices in $/MWh; days are Pacific
   operating dates. */
"use strict";

WL.boot(async () => {
  const { el, state } = WL;
  const app = WL.main();
  const today = WL.isoDay(new Date());
  const METRICS = [
    ["avg_lmp", "Daily average"], ["on_peak_avg_lmp", "On-peak average"],
    ["off_peak_avg_lmp", "Off-peak average"],
  ];
  const COMPONENTS = [
    ["energy", "Energy", "#1f77b4"], ["congestion", "Congestion", "#ff7f0e"],
    ["loss", "Loss", "#2ca02c"], ["ghg", "GHG", "#9467bd"],
  ];
  let rows = [];
  let nodes = [];
  let checked = new Set(state.getAll("node"));

  const market = WL.select([["DAM", "DAM"], ["RTM", "RTM"], ["RTPD", "RTPD"], ["HASP", "HASP"]],
    state.get("market", "DAM"), () => load());
  const start = el("input", { type: "date", value: state.get("start", WL.addDays(today, -30)) });
  const end = el("input", { type: "date", value: state.get("end", today) });
  start.addEventListener("change", () => load());
  end.addEventListener("change", () => load());
  const metric = WL.select(METRICS, state.get("metric", "avg_lmp"), () => drawDaily());
  const nodeBox = el("div", { className: "checks", id: "nodes" });
  const daySel = el("select", { id: "day" });
  const dayNode = el("select", { id: "day-node" });
  daySel.addEventListener("change", () => loadDay());
  dayNode.addEventListener("change", () => loadDay());
  const daily = WL.chartBox("daily-chart", "Daily LMP per node");
  const hourly = WL.chartBox("hourly-chart", "One day's LMP by interval, components stacked");
  const summary = el("div", { id: "summary" });

  app.append(
    el("div", { className: "controls" },
      WL.field("Market", market), WL.field("From", start), WL.field("To", end),
      WL.field("Statistic", metric), WL.field("Nodes", nodeBox)),
    el("h2", {}, "Daily LMP ($/MWh)"), daily.box,
    el("h2", {}, "Per node over the range ($/MWh)"), summary,
    el("h2", {}, "One day by interval ($/MWh, Pacific time)"),
    el("div", { className: "controls" }, WL.field("Day", daySel), WL.field("Node", dayNode)),
    hourly.box,
  );

  async function load() {
    WL.status("Loading prices…");
    state.set({ market: market.value, start: start.value, end: end.value });
    rows = await WL.fetchAll("/v1/lmp/daily",
      { market: market.value, start: start.value, end: end.value });
    nodes = [...new Set(rows.map((r) => r.node))].sort();
    if (![...checked].some((n) => nodes.includes(n))) checked = new Set(nodes);
    nodeBox.replaceChildren(...nodes.map((n) => {
      const box = el("input", { type: "checkbox", value: n, checked: checked.has(n) });
      box.addEventListener("change", () => {
        if (box.checked) checked.add(n); else checked.delete(n);
        drawDaily();
      });
      return el("label", {}, box, " ", n);
    }));
    const days = [...new Set(rows.map((r) => r.opr_date))].sort();
    const keepDay = daySel.value || state.get("day", "");
    daySel.replaceChildren(...days.map((d) => el("option", { value: d }, d)));
    daySel.value = days.includes(keepDay) ? keepDay : (days[days.length - 1] || "");
    const keepNode = dayNode.value || state.get("day_node", "");
    dayNode.replaceChildren(...nodes.map((n) => el("option", { value: n }, n)));
    dayNode.value = nodes.includes(keepNode) ? keepNode : (nodes[0] || "");
    drawDaily();
    await loadDay();
    WL.status(rows.length
      ? `${rows.length} node-days, ${nodes.length} nodes, ${days[0]} to ${days[days.length - 1]}.`
      : `No ${market.value} prices from ${start.value} to ${end.value}.`);
  }

  function drawDaily() {
    const shown = nodes.filter((n) => checked.has(n));
    state.set({ node: shown, metric: metric.value });
    const key = metric.value;
    const days = [...new Set(rows.map((r) => r.opr_date))].sort();
    const index = new Map(days.map((d, i) => [d, i]));
    const datasets = shown.map((n) => {
      const data = new Array(days.length).fill(null);
      for (const r of rows) if (r.node === n) data[index.get(r.opr_date)] = r[key];
      const color = WL.PALETTE[nodes.indexOf(n) % WL.PALETTE.length];
      return { label: n, data, borderColor: color, backgroundColor: color,
        pointRadius: days.length > 60 ? 0 : 2,
        spanGaps: false, borderWidth: 1.5 };
    });
    WL.chart(daily.canvas, {
      type: "line",
      data: { labels: days, datasets },
      options: { interaction: { mode: "index", intersect: false },
        scales: { y: { title: { display: true, text: "$/MWh" } } } },
    });
    const stats = shown.map((n) => {
      const mine = rows.filter((r) => r.node === n);
      return {
        node: n, days: mine.length,
        avg: WL.mean(mine.map((r) => r.avg_lmp)),
        on: WL.mean(mine.map((r) => r.on_peak_avg_lmp)),
        off: WL.mean(mine.map((r) => r.off_peak_avg_lmp)),
        min: mine.length ? Math.min(...mine.map((r) => r.min_lmp)) : null,
        max: mine.length ? Math.max(...mine.map((r) => r.max_lmp)) : null,
      };
    });
    const f = (v) => WL.fmt(v, 2);
    summary.replaceChildren(WL.table([
      { key: "node", label: "Node" }, { key: "days", label: "Days", num: true },
      { key: "avg", label: "Mean daily avg", num: true, fmt: f },
      { key: "on", label: "On-peak", num: true, fmt: f },
      { key: "off", label: "Off-peak", num: true, fmt: f },
      { key: "min", label: "Min", num: true, fmt: f }, { key: "max", label: "Max", num: true, fmt: f },
    ], stats, { id: "node-summary", onRow: (r) => { dayNode.value = r.node; loadDay(); } }));
  }

  async function loadDay() {
    const day = daySel.value;
    const node = dayNode.value;
    state.set({ day, day_node: node });
    let items = [];
    if (day && node) {
      items = await WL.fetchAll("/v1/lmp", { market: market.value, node, start: day, end: day });
    }
    const labels = items.map((r) => new Date(r.interval_start_utc).toLocaleTimeString("en-US", {
      timeZone: "America/Los_Angeles", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }));
    const datasets = COMPONENTS.map(([k, label, color]) => ({
      type: "bar", label, data: items.map((r) => r[k]), backgroundColor: color, stack: "c",
    }));
    datasets.push({ type: "line", label: "LMP", data: items.map((r) => r.lmp),
      borderColor: "#111", backgroundColor: "#111", pointRadius: 1.5, borderWidth: 1.5,
      stack: "lmp" });
    WL.chart(hourly.canvas, {
      data: { labels, datasets },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { title: { display: true, text: `${node} ${day} (${market.value})` } },
        scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "$/MWh" } } },
      },
    });
  }

  await load();
});
