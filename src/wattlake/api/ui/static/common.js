/* wattlake dashboard: shared helpers. Data reach the page only through textContent and
   attribute/property setters (never as markup), and only from the /v1 API of this server. */
"use strict";

const WL = (() => {
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  /** An element: attrs are properties (className, value, ...) or data-/aria- attributes;
      children are nodes or text (always made text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("data-") || k.startsWith("aria-") || k === "for" || k === "role") {
        node.setAttribute(k, String(v));
      } else if (k === "on") {
        for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      } else {
        node[k] = v;
      }
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function url(path, params) {
    const u = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v === undefined || v === null || v === "") continue;
      for (const one of Array.isArray(v) ? v : [v]) u.searchParams.append(k, String(one));
    }
    return u;
  }

  async function api(path, params) {
    const res = await fetch(url(path, params), { headers: { Accept: "application/json" } });
    if (!res.ok) {
      let detail = res.statusText;
      try {
        const p = await res.json();
        detail = p.detail || p.title || detail;
        if (typeof detail !== "string") detail = JSON.stringify(detail);
      } catch (_) { /* not JSON */ }
      throw new Error(`${res.status} from ${path}: ${detail}`);
    }
    return res.json();
  }

  /** Every item of a paginated /v1 list (follows `next`), up to `cap` rows. */
  async function fetchAll(path, params, cap = 200000) {
    let page = await api(path, { ...params, limit: 10000 });
    const items = page.items.slice();
    while (page.next && items.length < cap) {
      const next = new URL(page.next);
      page = await api(next.pathname + next.search);
      items.push(...page.items);
    }
    return items;
  }

  function fmt(v, digits = 2) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    return Number(v).toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    });
  }

  function mean(xs) {
    const ok = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x));
    return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
  }

  function status(text, isError = false) {
    const s = document.getElementById("status");
    if (!s) return;
    s.textContent = text;
    s.classList.toggle("error", isError);
  }

  function fail(err) {
    console.warn(err); // shown on the page; a failed request is not a script error
    status(String(err.message || err), true);
  }

  /** Query-string state of a page, so a view can be linked. */
  const state = {
    get(name, fallback) {
      const v = new URLSearchParams(window.location.search).get(name);
      return v === null ? fallback : v;
    },
    getAll(name) {
      return new URLSearchParams(window.location.search).getAll(name);
    },
    set(values) {
      const u = new URL(window.location.href);
      for (const [k, v] of Object.entries(values)) {
        u.searchParams.delete(k);
        for (const one of Array.isArray(v) ? v : [v]) {
          if (one !== undefined && one !== null && one !== "") u.searchParams.append(k, one);
        }
      }
      window.history.replaceState(null, "", u);
    },
  };

  const charts = new Map();

  /** (Re)draw a chart in `canvas`; the canvas carries data-series / data-points for tests. */
  function chart(canvas, config) {
    const old = charts.get(canvas);
    if (old) old.destroy();
    const c = new window.Chart(canvas, config);
    charts.set(canvas, c);
    const ds = config.data.datasets;
    canvas.setAttribute("data-series", String(ds.length));
    canvas.setAttribute("data-points", String(ds.reduce((n, d) => n + d.data.length, 0)));
    canvas.setAttribute("data-labels", ds.map((d) => d.label).join("|"));
    return c;
  }

  function chartBox(id, label) {
    const canvas = el("canvas", { id, "aria-label": label, role: "img" });
    return { box: el("div", { className: "chart" }, canvas), canvas };
  }

  /** A table whose headers sort it; shows at most `max` rows (says so). */
  function table(columns, rows, { max = 300, onRow, sortKey, sortDesc = false, id } = {}) {
    let key = sortKey || null;
    let desc = sortDesc;
    const tbody = el("tbody");
    const note = el("p", { className: "note" });
    const headRow = el("tr");
    const wrap = el("div", { className: "table-wrap" });
    const tableEl = el("table", { id }, el("thead", {}, headRow), tbody);
    function render() {
      const sorted = rows.slice();
      if (key) {
        const col = columns.find((c) => c.key === key);
        const val = col.sort || ((r) => r[key]);
        sorted.sort((a, b) => {
          const x = val(a);
          const y = val(b);
          if (x === y) return 0;
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (x < y ? -1 : 1) * (desc ? -1 : 1);
        });
      }
      tbody.replaceChildren(...sorted.slice(0, max).map((r) => {
        const tr = el("tr", {}, columns.map((c) => el("td", { className: c.num ? "num" : "" },
          c.cell ? c.cell(r) : (c.fmt ? c.fmt(r[c.key]) : r[c.key]))));
        if (onRow) {
          tr.classList.add("clickable");
          tr.tabIndex = 0;
          tr.addEventListener("click", () => onRow(r));
          tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onRow(r); });
        }
        return tr;
      }));
      note.textContent = sorted.length > max
        ? `Showing ${max} of ${sorted.length} rows (sort or filter to see others).`
        : `${sorted.length} rows.`;
      headRow.replaceChildren(...columns.map((c) => el("th", {
        className: c.num ? "num" : "",
        "aria-sort": c.key === key ? (desc ? "descending" : "ascending") : "none",
        on: { click: () => { desc = c.key === key ? !desc : !!c.num; key = c.key; render(); } },
      }, c.label, c.key === key ? (desc ? " ▾" : " ▴") : "")));
      tableEl.setAttribute("data-rows", String(sorted.length));
    }
    render();
    wrap.append(tableEl);
    return el("div", {}, wrap, note);
  }

  function field(label, control) {
    return el("label", { className: "field" }, el("span", {}, label), control);
  }

  function select(options, value, onChange) {
    const s = el("select", {}, options.map(([v, text]) => el("option", { value: v }, text)));
    if (value !== undefined && value !== null) s.value = value;
    if (onChange) s.addEventListener("change", () => onChange(s.value));
    return s;
  }

  function isoDay(d) {
    return d.toISOString().slice(0, 10);
  }

  function addDays(iso, n) {
    const d = new Date(`${iso}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + n);
    return isoDay(d);
  }

  function main() {
    return document.getElementById("app");
  }

  function boot(fn) {
    if (window.Chart) {
      window.Chart.defaults.animation = false;
      window.Chart.defaults.maintainAspectRatio = false;
      window.Chart.defaults.font.family = "system-ui, sans-serif";
    }
    // data-ready: milliseconds from navigation to the first complete view (read by the tests)
    Promise.resolve().then(fn).catch(fail).finally(() => {
      document.body.setAttribute("data-ready", String(Math.round(performance.now())));
    });
  }

  return {
    PALETTE, el, api, fetchAll, fmt, mean, status, fail, state, chart, chartBox, table, field,
    select, isoDay, addDays, main, boot,
  };
})();
