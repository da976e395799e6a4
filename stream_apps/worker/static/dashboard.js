// streamrec operator dashboard: polls api/stats every second and draws with plain SVG.
// No libraries and no network beyond this worker, so it works offline.
(function () {
  "use strict";
  const POLL_MS = 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  // A token given as ?token= is kept for this tab only and removed from the address bar.
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("streamrec-token", params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  const token = sessionStorage.getItem("streamrec-token") || "";

  async function api(path) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const response = await fetch(path, { headers, cache: "no-store" });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { status: response.status, body };
  }

  // ---------- formatting ----------
  const $ = (id) => document.getElementById(id);
  function fmtNum(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits,
                                               minimumFractionDigits: digits === undefined ? 0 : Math.min(digits, 1) });
  }
  function fmtMs(v) {
    if (v === null || v === undefined) return "–";
    return v >= 1000 ? (v / 1000).toFixed(2) + " s" : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " ms";
  }
  function fmtBytes(v) {
    if (!v && v !== 0) return "–";
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(i >= 2 ? 0 : 1) + " " + units[i];
  }
  function fmtAge(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    if (s < 86400) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }
  function fmtPct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function fmtClock(ts) { return new Date(ts * 1000).toLocaleTimeString([], { hour12: false }); }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }
  function setStat(name, text) {
    document.querySelectorAll('[data-stat="' + name + '"]').forEach((n) => { n.textContent = text; });
  }
  function fillTable(id, rows, columns, emptyText) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    if (!rows.length) {
      body.append(el("tr", { class: "empty" }, el("td", { colspan: String(columns) }, emptyText)));
      return;
    }
    for (const cells of rows) {
      const tr = el("tr");
      for (const c of cells) {
        const td = el("td", c.cls ? { class: c.cls } : {});
        if (c.node) td.append(c.node); else td.textContent = c.text === undefined ? c : c.text;
        tr.append(td);
      }
      body.append(tr);
    }
  }

  // ---------- charts (SVG) ----------
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }
  function sparkline(id, values, color) {
    const node = $(id);
    const w = node.clientWidth || 160, h = node.clientHeight || 28;
    node.setAttribute("viewBox", "0 0 " + w + " " + h);
    node.replaceChildren();
    const vals = values.slice(-60).map((v) => (v === null ? 0 : v));
    if (vals.length < 2) return;
    const max = Math.max(...vals, 1e-9), step = w / (vals.length - 1);
    const pts = vals.map((v, i) => [i * step, h - 2 - (v / max) * (h - 4)]);
    const line = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
    node.append(svg("path", { d: line + " L" + w + " " + h + " L0 " + h + " Z", fill: color, "fill-opacity": "0.12" }));
    node.append(svg("path", { d: line, fill: "none", stroke: color, "stroke-width": "1.5" }));
  }
  function lineChart(id, ts, lines, unitFmt, emptyText) {
    const node = $(id);
    const w = node.clientWidth || 600, h = node.clientHeight || 220;
    const pad = { l: 52, r: 12, t: 10, b: 22 };
    node.setAttribute("viewBox", "0 0 " + w + " " + h);
    node.replaceChildren();
    const all = lines.flatMap((l) => l.values.filter((v) => v !== null && v !== undefined));
    if (ts.length < 2 || !all.length) {
      node.append(svg("text", { x: w / 2, y: h / 2, "text-anchor": "middle", class: "empty" })).textContent = emptyText;
      return;
    }
    const max = niceMax(Math.max(...all) * 1.1);
    const t0 = ts[0], t1 = ts[ts.length - 1], span = Math.max(t1 - t0, 1);
    const x = (t) => pad.l + ((t - t0) / span) * (w - pad.l - pad.r);
    const y = (v) => pad.t + (1 - v / max) * (h - pad.t - pad.b);
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      node.append(svg("line", { x1: pad.l, x2: w - pad.r, y1: y(v), y2: y(v), class: "grid-line" }));
      const label = svg("text", { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end" });
      label.textContent = unitFmt(v);
      node.append(label);
    }
    for (const frac of [0, 0.5, 1]) {
      const t = t0 + frac * span;
      const label = svg("text", { x: x(t), y: h - 6, "text-anchor": frac === 0 ? "start" : frac === 1 ? "end" : "middle" });
      label.textContent = fmtClock(t);
      node.append(label);
    }
    for (const line of lines) {
      let d = "", pen = false;
      line.values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += (pen ? "L" : "M") + x(ts[i]).toFixed(1) + " " + y(v).toFixed(1) + " ";
        pen = true;
      });
      if (line.fill) {
        node.append(svg("path", { d: d + "L" + x(t1) + " " + y(0) + " L" + x(t0) + " " + y(0) + " Z",
                                  fill: line.color, "fill-opacity": "0.08" }));
      }
      node.append(svg("path", { d, fill: "none", stroke: line.color, "stroke-width": "2", "stroke-linejoin": "round" }));
    }
  }
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();

  // ---------- rendering ----------
  function renderCards(s) {
    const r = s.rates, lat = s.latency_ms;
    setStat("events_per_s", fmtNum(r.events_per_s));
    setStat("recs_per_s", fmtNum(r.recommendations_per_s));
    setStat("dlq_per_s", fmtNum(r.dead_letters_per_s, 2));
    setStat("p50", fmtMs(lat.p50_ms));
    setStat("p99", fmtMs(lat.p99_ms));
    setStat("lat-n", fmtNum(lat.n, 0));
    setStat("index", fmtNum(s.index.items, 0));
    setStat("users", fmtNum(s.users_in_state, 0));
    setStat("rss", fmtBytes(s.worker.rss_bytes));
    setStat("lag", fmtNum(s.partitions.total_lag, 0));
    $("card-dlq").classList.toggle("alert", r.dead_letters_per_s > 0);
    $("card-lag").classList.toggle("warn", s.partitions.total_lag > 1000);

    const byType = $("events-by-type");
    byType.replaceChildren();
    for (const [kind, rate] of Object.entries(r.events_per_s_by_type)) {
      byType.append(el("span", { class: "chip" }, kind + " ", el("b", {}, fmtNum(rate))));
    }
    const totalEvents = Object.values(s.totals.events_by_type).reduce((a, b) => a + b, 0);
    $("recs-total").textContent = fmtNum(s.totals.recommendations, 0) + " total · " + fmtNum(totalEvents, 0) + " events";
    $("dlq-total").textContent = fmtNum(s.totals.dead_letters, 0) + " total";
    $("freshness").textContent = s.index.last_upsert_ts
      ? "last item upsert " + fmtAge(s.index.last_upsert_age_s) + " ago" : "no item yet";
    $("pid").textContent = "pid " + s.worker.pid;
    const actives = s.partitions.assigned.filter((p) => p.role === "active").length;
    $("partition-count").textContent = s.partitions.assigned.length + " partitions assigned (" + actives + " active)";

    const sr = s.series;
    sparkline("spark-events", sr.events_per_s, color("--events"));
    sparkline("spark-recs", sr.recs_per_s, color("--recs"));
    sparkline("spark-dlq", sr.dead_letters_per_s, color("--dlq"));
  }

  function renderCharts(s) {
    const sr = s.series;
    lineChart("chart-latency", sr.ts, [
      { values: sr.p99_ms, color: color("--p99") },
      { values: sr.p50_ms, color: color("--p50"), fill: true },
    ], (v) => (v >= 1000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms"), "waiting for recommendations…");
    lineChart("chart-throughput", sr.ts, [
      { values: sr.events_per_s, color: color("--events"), fill: true },
      { values: sr.recs_per_s, color: color("--recs") },
      { values: sr.dead_letters_per_s, color: color("--dlq") },
    ], (v) => fmtNum(v) + "/s", "waiting for traffic…");
  }

  function renderFeedback(s) {
    const f = s.feedback;
    fillTable("tbl-scenes", f.by_scene.map((r) => [
      r.key, { text: fmtNum(r.recommendations, 0), cls: "num" }, { text: fmtNum(r.impressions, 0), cls: "num" },
      { text: fmtNum(r.clicks, 0), cls: "num" }, { text: fmtPct(r.ctr), cls: "num" }, { text: fmtPct(r.conversion), cls: "num" },
    ]), 6, "no recommendations yet");
    const since = Object.fromEntries(f.model_timeline.map((m) => [m.model_version, m.first_seen]));
    fillTable("tbl-models", f.by_model_version.map((r) => [
      "v" + r.key, since[r.key] ? fmtClock(since[r.key]) : "–", { text: fmtNum(r.impressions, 0), cls: "num" },
      { text: fmtNum(r.clicks, 0), cls: "num" }, { text: fmtPct(r.ctr), cls: "num" }, { text: fmtPct(r.conversion), cls: "num" },
    ]), 6, "no feedback naming a recommendation yet");
    if (s.model) {
      $("model-now").textContent = "serving v" + s.model.version + " · control group (v0) " +
        fmtPct(s.model.control_share) + " of users";
    }
  }

  function renderTrending(s) {
    const box = $("trending");
    box.replaceChildren();
    const scenes = Object.entries(s.trending);
    if (!scenes.length) { box.append(el("p", { class: "muted" }, "nothing clicked or recommended in the last 5 minutes")); return; }
    for (const [scene, items] of scenes) {
      const max = Math.max(...items.map((i) => i.score), 1);
      const block = el("div", { class: "scene-block" },
        el("h3", {}, scene + (items[0] && items[0].source === "recommended" ? " · most recommended" : " · most clicked")));
      items.forEach((item, i) => {
        block.append(el("div", { class: "trend-row", title: item.item_id },
          el("span", { class: "rank" }, i + 1),
          el("div", {}, el("div", { class: "title" }, item.title || item.item_id),
             el("div", { class: "trend-bar", style: "width:" + Math.max(4, (100 * item.score) / max) + "%" })),
          el("span", { class: "muted" }, fmtNum(item.score, 0))));
      });
      box.append(block);
    }
  }

  function renderPartitions(s) {
    const p = s.partitions;
    // Most lag first; then the event topics an operator cares about, then items, state, the rest.
    const rank = (r) => (/events\./.test(r.topic) ? 0 : /(^|-)items$/.test(r.topic) ? 1 : r.role === "state" ? 2 : 3);
    const rows = p.assigned.slice().sort((a, b) => (b.lag || 0) - (a.lag || 0) || rank(a) - rank(b)
      || a.topic.localeCompare(b.topic) || a.partition - b.partition);
    fillTable("tbl-partitions", rows.map((r) => [
      r.topic, { text: r.partition, cls: "num" }, { node: el("span", { class: "role " + r.role }, r.role) },
      { text: r.position === null ? "–" : fmtNum(r.position, 0), cls: "num" },
      { text: r.lag === null ? "–" : fmtNum(r.lag, 0), cls: "num" + (r.lag > 100 ? " lag-hi" : "") },
    ]), 5, "no partitions assigned (yet)");
    const owners = $("owners");
    owners.replaceChildren();
    $("owners-note").textContent = p.owners.length ? p.owners.length + " worker(s) in the group" : "";
    for (const o of p.owners) {
      const parts = Object.values(o.partitions).flat();
      const uniq = Array.from(new Set(parts)).sort((a, b) => a - b);
      owners.append(el("div", { class: o.this_worker ? "me" : "" },
        (o.this_worker ? "● this worker " : "○ ") + o.worker + " owns state partitions " + (uniq.join(", ") || "none")));
    }
  }

  function renderErrors(s) {
    $("dlq-note").textContent = s.recent_errors.length ? s.recent_errors.length + " most recent" : "";
    fillTable("tbl-errors", s.recent_errors.map((e) => [
      fmtClock(e.ts), e.topic + " [" + e.partition + "] @" + e.offset, { text: e.error, cls: "reason" },
    ]), 3, "no dead letters — every message was valid");
  }

  function renderRecentUsers(s) {
    const box = $("recent-users");
    const users = s.recent_users || [];
    if (box.dataset.users === users.join(",")) return;
    box.dataset.users = users.join(",");
    box.replaceChildren();
    if (!users.length) return;
    box.append("recently active: ");
    for (const u of users.slice(0, 8)) {
      const b = el("button", { type: "button" }, u);
      b.addEventListener("click", () => { $("user-id").value = u; showUser(); });
      box.append(b);
    }
  }

  function render(s) {
    const status = $("status");
    status.textContent = s.worker.status;
    status.className = "pill " + (s.worker.ready ? "pill-ok" : "pill-wait");
    $("worker-id").textContent = s.worker.id;
    $("uptime").textContent = "up " + fmtAge(s.worker.uptime_s);
    $("updated").textContent = "updated " + fmtClock(s.ts);
    renderCards(s);
    renderCharts(s);
    renderFeedback(s);
    renderTrending(s);
    renderPartitions(s);
    renderErrors(s);
    renderRecentUsers(s);
  }

  function banner(text) {
    const b = $("banner");
    b.hidden = !text;
    b.textContent = text || "";
  }

  async function poll() {
    try {
      const { status, body } = await api("api/stats");
      if (status === 401) {
        banner("This worker needs an API token: open the dashboard as /dashboard?token=<token>.");
        $("status").textContent = "unauthorized";
        $("status").className = "pill pill-bad";
      } else if (status === 200 && body) {
        banner("");
        render(body);
      } else {
        throw new Error("HTTP " + status);
      }
    } catch (err) {
      $("status").textContent = "disconnected";
      $("status").className = "pill pill-bad";
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // ---------- user box ----------
  async function showUser() {
    const userId = $("user-id").value.trim();
    if (!userId) return;
    const scene = $("user-scene").value.trim();
    const k = $("user-k").value;
    const out = $("user-result");
    out.replaceChildren(el("p", { class: "muted" }, "loading…"));
    const q = new URLSearchParams({ k });
    if (scene) q.set("scene", scene);
    const path = encodeURIComponent(userId);
    try {
      const [recs, user] = await Promise.all([api("recommendations/" + path + "?" + q), api("api/users/" + path)]);
      out.replaceChildren();
      if (recs.status !== 200) {
        out.append(el("p", { class: "error-text" }, (recs.body && recs.body.error) || "HTTP " + recs.status));
        return;
      }
      const r = recs.body, u = user.status === 200 ? user.body : null;
      const meta = el("div", { class: "user-meta" }, el("span", {}, "user ", el("b", {}, r.user_id)));
      if (u && u.known_user) {
        meta.append(el("span", {}, el("b", {}, fmtNum(u.events, 0)), " events"),
                    el("span", {}, "last ", el("b", {}, fmtAge(u.last_event_age_s)), " ago"));
        if (u.scenes && u.scenes.length) meta.append(el("span", {}, "scenes ", el("b", {}, u.scenes.join(", "))));
      }
      if (scene) meta.append(el("span", {}, "for scene ", el("b", {}, scene)));
      out.append(meta);
      if (!r.known_user) {
        out.append(el("p", { class: "muted" }, "This user has no state on the worker yet: no events seen" +
          (r.items.length ? ". These are the cold-start picks, trending in the scene." : ".")));
      } else if (!r.items.length) {
        out.append(el("p", { class: "muted" }, "No recommendations for this user right now."));
      }
      const list = el("ol", { class: "recs", id: "user-recs" });
      const top = Math.max(...r.items.map((i) => i.score), 1e-9);
      r.items.forEach((item, i) => {
        list.append(el("li", { class: "rec" },
          el("span", { class: "rank" }, i + 1),
          el("div", {}, el("div", { class: "title" }, item.title || item.item_id, el("span", { class: "id" }, item.item_id)),
             el("div", { class: "why" }, item.reason)),
          el("div", { class: "score" }, item.score.toFixed(3),
             el("div", { class: "scorebar" }, el("i", { style: "width:" + Math.max(3, (100 * item.score) / top) + "%" })))));
      });
      out.append(list);
      if (u && u.known_user) {
        const hist = el("div", { class: "history" });
        if (u.last_query) hist.append(el("div", {}, "last search: ", el("span", { class: "chip" }, u.last_query)));
        const recent = el("div", {}, "recent items: ");
        for (const it of u.recent_items.slice(0, 8)) recent.append(el("span", { class: "chip", title: it.item_id }, it.title || it.item_id));
        hist.append(recent);
        if (u.purchased.length) {
          const bought = el("div", {}, "purchased: ");
          for (const it of u.purchased.slice(0, 6)) bought.append(el("span", { class: "chip", title: it.item_id }, it.title || it.item_id));
          hist.append(bought);
        }
        out.append(hist);
      }
    } catch (err) {
      out.replaceChildren(el("p", { class: "error-text" }, "request failed: " + err));
    }
  }

  $("user-form").addEventListener("submit", (e) => { e.preventDefault(); showUser(); });
  poll();
})();
