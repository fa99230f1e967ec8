/* The province dashboard: every centre now and today against the targets (wait ≤ 15 min,
   satisfaction ≥ 95 %), the worst first, charts, a centre's drill-down (#centre=ID) and the reports.
   It signs in once (POST /api/v1/session: an HttpOnly session cookie) and refreshes by itself.
   common.js and charts.js are the hub's own, served by the province node. */
"use strict";

(function () {
  var O = Onestop, $ = O.$, el = O.el;
  var clock = new O.Clock();
  var every = /[?&]refresh=(\d+)/.exec(window.location.search); /* seconds; a wall screen may want less */
  var REFRESH_MS = every ? Math.max(2, +every[1]) * 1000 : 30000, TREND_MS = 300000;
  var GOOD = "#1f9d55", BAD = "#c62828", BLUE = "#1d4f91", GREY = "#8a94a6";
  var data = null, trend = null, detail = null, timer = null, trendAt = 0, you = null;

  function pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1).replace(".", ",") + "\u00a0%"; }
  function mins(s) { return s === null || s === undefined ? "—" : (s / 60).toFixed(1).replace(".", ",") + "\u00a0phút"; }
  /* A chart's label of a centre: "Bộ phận Một cửa" is every commune's, so it is left out there. */
  function short(name) { return name.replace(/^Bộ phận (Một|một) cửa /, ""); }
    function state(ok) { return ok === true ? "ok" : ok === false ? "bad" : ""; }
  function monthLabel(ym) { return "Tháng " + ym.slice(5) + "/" + ym.slice(0, 4); }

  function kpi(label, en, value, st, note) {
    var box = el("div", "kpi" + (st ? " " + st : ""));
    box.appendChild(el("div", "kpi-value", value));
    var l = el("div", "kpi-label", label + " ");
    l.appendChild(el("em", "", en));
    box.appendChild(l);
    if (note) box.appendChild(el("div", "kpi-note", note));
    return box;
  }

  /* "Mất kết nối từ 09:12" (with the date when it was not today). */
  function linkText(c) {
    if (c.link === "up") return { cls: "up", text: "● Trực tuyến", en: "Online" };
    if (c.link === "down") {
      var since = c.link_since ? new Date(c.link_since) : null, t = "Mất kết nối";
      if (since && !isNaN(since.getTime())) {
        var p = clock.parts(since), now = clock.parts();
        t += " từ " + clock.timeText(since, false);
        if (p.d !== now.d || p.mo !== now.mo || p.y !== now.y) t += " " + O.pad(p.d) + "/" + O.pad(p.mo);
      }
      return { cls: "down", text: t, en: "Link down" };
    }
    return { cls: "unknown", text: "Chưa kết nối", en: "Never heard from" };
  }

  function renderKpis(d) {
    var t = d.totals, box = $("kpis");
    box.textContent = "";
    box.appendChild(kpi("Trung tâm", "Centres", String(t.centres), t.links_down ? "bad" : "",
                        t.links_down ? t.links_down + " mất kết nối · link down" : "Tất cả trực tuyến · all online"));
    box.appendChild(kpi("Đang chờ", "Waiting now", String(t.waiting)));
    box.appendChild(kpi("Quầy đang mở", "Counters open", t.counters_open + " / " + t.counters));
    box.appendChild(kpi("Số phiếu hôm nay", "Tickets today", String(t.tickets_today)));
    box.appendChild(kpi("Chờ trung bình", "Mean wait (≤ 15 min)", mins(t.mean_wait_s), state(t.wait_ok),
                        t.centres_missing_wait + " trung tâm chưa đạt · over target"));
    box.appendChild(kpi("Chờ ≤ 15 phút", "Called within 15 min", pct(t.within_15)));
    box.appendChild(kpi("Hài lòng " + quarterText(d.quarter), "Satisfaction (≥ 95 %)", pct(t.satisfaction_quarter),
                        state(t.satisfaction_ok), t.centres_missing_satisfaction + " trung tâm chưa đạt · below"));
    box.appendChild(kpi("Thiết bị cảnh báo", "Device alerts", String(t.device_alerts), t.device_alerts ? "warn" : "",
                        t.centres_with_alerts + " trung tâm · centres"));
  }

  function quarterText(q) { return "quý " + ["I", "II", "III", "IV"][+q.slice(6) - 1] + "/" + q.slice(0, 4); }

  function worst(list, key, better) {
    return list.filter(function (c) { return c[key] !== null && c[key] !== undefined; })
      .sort(function (a, b) { return better(a[key], b[key]); }).slice(0, 10);
  }

  function renderCharts(d) {
    var waits = worst(d.centres, "mean_wait_s", function (a, b) { return b - a; }).map(function (c) {
      return { label: short(c.name), value: c.mean_wait_s / 60, text: mins(c.mean_wait_s),
               color: c.wait_ok ? GOOD : BAD };
    });
    var maxWait = Math.max(d.targets.wait_s / 60 * 2, waits.length ? waits[0].value : 0);
    Charts.hbars($("chart-wait"), { rows: waits, max: Math.ceil(maxWait / 5) * 5, target: d.targets.wait_s / 60,
                                    targetLabel: "15 phút", title: "Chờ trung bình lâu nhất hôm nay",
                                    empty: "Chưa có lượt chờ hôm nay · No waits yet today" });
    var sats = worst(d.centres, "satisfaction_quarter", function (a, b) { return a - b; }).map(function (c) {
      return { label: short(c.name), value: 100 * c.satisfaction_quarter,
               text: pct(c.satisfaction_quarter) + " (" + c.ratings_quarter + ")",
               color: c.satisfaction_ok ? GOOD : BAD };
    });
    $("quarter").textContent = quarterText(d.quarter);
    Charts.hbars($("chart-sat"), { rows: sats, max: 100, target: 100 * d.targets.satisfaction, targetLabel: "95 %",
                                   title: "Tỷ lệ hài lòng thấp nhất trong quý",
                                   empty: "Chưa có đánh giá trong quý · No ratings yet" });
  }

  /* Months as bar lists with the target drawn: satisfaction lives between 85 and 100 %, where upright
     bars from 0 would all look alike. */
  function trendCharts(months, targets, waitBox, satBox) {
    var waits = months.map(function (m) {
      return { label: monthLabel(m.month), value: m.mean_wait_s === null ? 0 : m.mean_wait_s / 60,
               text: m.mean_wait_s === null ? "—" : mins(m.mean_wait_s),
               color: m.wait_ok === false ? BAD : m.wait_ok ? GOOD : GREY };
    });
    var top = Math.max(2 * targets.wait_s / 60, Math.max.apply(null, waits.map(function (w) { return w.value; })));
    Charts.hbars($(waitBox), { rows: waits, max: Math.ceil(top / 5) * 5, target: targets.wait_s / 60,
                               targetLabel: "15 phút", title: "Chờ trung bình theo tháng" });
    var sats = months.map(function (m) {
      return { label: monthLabel(m.month), value: m.satisfaction === null ? 0 : 100 * m.satisfaction,
               text: pct(m.satisfaction) + (m.ratings ? " (" + m.ratings + ")" : ""),
               color: m.satisfaction_ok === false ? BAD : m.satisfaction_ok ? GOOD : GREY };
    });
    Charts.hbars($(satBox), { rows: sats, max: 100, target: 100 * targets.satisfaction, targetLabel: "95 %",
                              title: "Tỷ lệ hài lòng theo tháng" });
  }

  /* -- the centres' table: search, filter, sort ---------------------------------------------------- */

  function matches(c, q, f) {
    if (q) {
      var hay = (c.name + " " + c.site).toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d");
      if (hay.indexOf(q) < 0) return false;
    }
    if (f === "attention") return c.attention > 0 && (c.link === "down" || c.device_alerts.length || c.wait_ok === false || c.satisfaction_ok === false);
    if (f === "down") return c.link === "down";
    if (f === "alerts") return c.device_alerts.length > 0;
    if (f === "wait") return c.wait_ok === false;
    if (f === "sat") return c.satisfaction_ok === false;
    return true;
  }

  function nullLast(a, b, desc) {
    if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1;
    if (b === null || b === undefined) return -1;
    return desc ? b - a : a - b;
  }

  var SORTS = {
    worst: function (a, b) { return b.attention - a.attention || a.name.localeCompare(b.name, "vi"); },
    name: function (a, b) { return a.name.localeCompare(b.name, "vi"); },
    waiting: function (a, b) { return b.waiting - a.waiting || a.name.localeCompare(b.name, "vi"); },
    wait: function (a, b) { return nullLast(a.mean_wait_s, b.mean_wait_s, true); },
    sat: function (a, b) { return nullLast(a.satisfaction_quarter, b.satisfaction_quarter, false); },
    tickets: function (a, b) { return b.tickets_today - a.tickets_today; }
  };

  function cell(tr, label, text, cls, en) {
    var td = el("td", cls || "", text);
    td.setAttribute("data-label", label);
    if (en) td.appendChild(el("em", "", en));
    tr.appendChild(td);
    return td;
  }

  function renderTable() {
    if (!data) return;
    var q = $("search").value.trim().toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d");
    var f = $("filter").value;
    var rows = data.centres.filter(function (c) { return matches(c, q, f); }).sort(SORTS[$("sort").value] || SORTS.worst);
    var body = $("centre-rows");
    body.textContent = "";
    $("centre-count").textContent = rows.length === data.centres.length ? String(rows.length)
      : rows.length + " / " + data.centres.length;
    rows.forEach(function (c) {
      var tr = el("tr", c.link === "down" ? "down" : "");
      tr.setAttribute("data-site", c.site);
      var name = el("td", "name");
      name.setAttribute("data-label", "Trung tâm");
      var a = el("a", "", c.name);
      a.href = "#centre=" + encodeURIComponent(c.site);
      name.appendChild(a);
      tr.appendChild(name);
      var lt = linkText(c);
      cell(tr, "Kết nối", lt.text, "linkst " + lt.cls);
      cell(tr, "Đang chờ", String(c.waiting), "n");
      cell(tr, "Quầy mở", c.counters_open + "/" + c.counters, "n");
      cell(tr, "Phiếu hôm nay", String(c.tickets_today), "n");
      cell(tr, "Chờ TB", mins(c.mean_wait_s), "n " + state(c.wait_ok));
      cell(tr, "≤ 15 phút", pct(c.within_15), "n");
      cell(tr, "Hài lòng quý", pct(c.satisfaction_quarter), "n " + state(c.satisfaction_ok));
      var al = c.device_alerts.map(function (x) { return x.device + ": " + alertText(x.alert); }).join("; ");
      cell(tr, "Cảnh báo", al || "—", al ? "alerts-cell warn" : "alerts-cell");
      tr.addEventListener("click", function (ev) {
        if (ev.target.tagName !== "A") window.location.hash = "centre=" + encodeURIComponent(c.site);
      });
      body.appendChild(tr);
    });
    if (!rows.length) {
      var tr = el("tr", "none"), td = el("td", "", "Không có trung tâm nào phù hợp ");
      td.colSpan = 9;
      td.appendChild(el("em", "", "No centre matches"));
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function alertText(a) {
    if (a === "offline") return "mất kết nối";
    if (a.indexOf("printer ") === 0) {
      var k = a.slice(8);
      return { paper_low: "máy in sắp hết giấy", paper_out: "máy in hết giấy", cover_open: "máy in mở nắp",
               offline: "máy in mất kết nối", error: "máy in lỗi" }[k] || "máy in: " + k;
    }
    return a;
  }

  /* -- the drill-down ------------------------------------------------------------------------------ */

  function renderDetail(d) {
    detail = d;
    var lv = d.live, t = d.today, lt = linkText(lv);
    $("d-name").textContent = lv.name;
    var link = $("d-link");
    link.textContent = "";
    link.appendChild(el("span", "linkst " + lt.cls, lt.text));
    if (lv.last_seen) link.appendChild(el("span", "seen", " · liên lạc lần cuối " + clock.timeText(new Date(lv.last_seen), false)));
    var box = $("d-kpis");
    box.textContent = "";
    box.appendChild(kpi("Đang chờ", "Waiting now", String(lv.waiting)));
    box.appendChild(kpi("Quầy đang mở", "Counters open", lv.counters_open + " / " + lv.counters));
    box.appendChild(kpi("Số phiếu hôm nay", "Tickets today", String(t.tickets_today)));
    box.appendChild(kpi("Chờ trung bình", "Mean wait (≤ 15 min)", mins(t.mean_wait_s), state(t.wait_ok)));
    box.appendChild(kpi("Chờ ≤ 15 phút", "Called within 15 min", pct(t.within_15)));
    box.appendChild(kpi("Hài lòng " + quarterText(d.quarter), "Satisfaction (≥ 95 %)", pct(t.satisfaction_quarter),
                        state(t.satisfaction_ok)));
    drawDetail(d);
    var list = $("d-alerts");
    list.textContent = "";
    if (!lv.device_alerts.length) {
      var ok = el("li", "none", "Không có cảnh báo ");
      ok.appendChild(el("em", "", "All clear"));
      list.appendChild(ok);
    }
    lv.device_alerts.forEach(function (a) {
      var li = el("li", "warning");
      li.appendChild(el("span", "sev", "Cảnh báo"));
      var m = el("span", "msg", a.device + ": " + alertText(a.alert));
      m.appendChild(el("em", "", a.alert));
      li.appendChild(m);
      list.appendChild(li);
    });
    var s = encodeURIComponent(lv.site);
    $("l-centre-html").href = "/api/v1/centres/" + s + "?format=html";
    $("l-centre-csv").href = "/api/v1/centres/" + s + "?format=csv";
  }

  function drawDetail(d) {
    var narrow = $("chart-d-services").clientWidth < 640; /* a phone: the mean wait is in the printable page */
    var svc = d.services.map(function (s) {
      return { label: s.name, value: s.waiting,
               text: s.waiting + " chờ · " + s.tickets + " phiếu" +
                     (s.mean_wait_s === null || narrow ? "" : " · " + mins(s.mean_wait_s)),
               color: s.wait_ok === false ? BAD : BLUE };
    });
    Charts.hbars($("chart-d-services"), { rows: svc, title: "Theo lĩnh vực hôm nay", empty: "Chưa có số liệu · No data" });
    var off = d.officers.filter(function (o) { return o.ratings > 0; }).map(function (o) {
      return { label: o.name || o.officer, value: 100 * o.satisfaction, text: pct(o.satisfaction) + " (" + o.ratings + ")",
               color: o.satisfaction_ok ? GOOD : BAD };
    });
    $("d-quarter").textContent = quarterText(d.quarter);
    Charts.hbars($("chart-d-officers"), { rows: off, max: 100, target: 100 * d.targets.satisfaction, targetLabel: "95 %",
                                          title: "Tỷ lệ hài lòng theo cán bộ", empty: "Chưa có đánh giá trong quý · No ratings yet" });
    trendCharts(d.months, d.targets, "chart-d-trend-wait", "chart-d-trend-sat");
  }

  /* -- loading, routing, refreshing ---------------------------------------------------------------- */

  function centreInHash() {
    var m = /^#centre=(.+)$/.exec(window.location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function showView() {
    var site = centreInHash();
    $("main").hidden = !!site;
    $("detail").hidden = !site;
    if (site) loadDetail(site);
    else if (data) { drawAll(); }
  }

  function drawAll() {
    renderKpis(data);
    renderCharts(data);
    renderTable();
    if (trend) trendCharts(trend.months, data.targets, "chart-trend-wait", "chart-trend-sat");
  }

  function failed(r) {
    if (r.status === 401) { showSignin(""); return true; }
    $("conn").hidden = r.ok || r.status < 500;
    return false;
  }

  function loadDetail(site) {
    O.fetchJSON("/api/v1/centres/" + encodeURIComponent(site), {}, 10000).then(function (r) {
      if (failed(r)) return;
      if (r.status === 403 || r.status === 404) {
        $("d-name").textContent = r.status === 403 ? "Không có quyền xem trung tâm này · Not your centre"
                                                   : "Không có trung tâm này · No such centre";
        return;
      }
      if (r.ok && r.body && centreInHash() === site) renderDetail(r.body);
    }, function () { $("conn").hidden = false; });
  }

  function load() {
    var site = centreInHash();
    if (site) loadDetail(site);
    O.fetchJSON("/api/v1/dashboard", {}, 15000).then(function (r) {
      if (failed(r)) return;
      if (!r.ok || !r.body) return;
      data = r.body;
      $("province").textContent = data.province;
      $("updated").textContent = "Cập nhật " + clock.timeText(null, false);
      setReportLinks(data);
      if (!centreInHash()) drawAll();
      if (Date.now() - trendAt > TREND_MS) loadTrend();
    }, function () { $("conn").hidden = false; });
  }

  function loadTrend() {
    trendAt = Date.now();
    O.fetchJSON("/api/v1/reports/monthly", {}, 20000).then(function (r) {
      if (!r.ok || !r.body) return;
      trend = r.body;
      if (data && !centreInHash()) trendCharts(trend.months, data.targets, "chart-trend-wait", "chart-trend-sat");
    }, function () { trendAt = 0; });
  }

  function setReportLinks(d) {
    if (!$("r-year").value) {
      $("r-year").value = d.quarter.slice(0, 4);
      $("r-quarter").value = d.quarter.slice(6);
      var to = d.day.slice(0, 7), y = +to.slice(0, 4), m = +to.slice(5, 7) - 11;
      if (m < 1) { m += 12; y -= 1; }
      $("r-to").value = to;
      $("r-from").value = y + "-" + O.pad(m);
    }
    var oq = "year=" + encodeURIComponent($("r-year").value) + "&quarter=" + $("r-quarter").value;
    var mq = "from=" + encodeURIComponent($("r-from").value) + "&to=" + encodeURIComponent($("r-to").value);
    $("l-officers-html").href = "/api/v1/reports/officers?format=html&" + oq;
    $("l-officers-csv").href = "/api/v1/reports/officers?format=csv&" + oq;
    $("l-monthly-html").href = "/api/v1/reports/monthly?format=html&" + mq;
    $("l-monthly-csv").href = "/api/v1/reports/monthly?format=csv&" + mq;
    $("l-ranking-html").href = "/api/v1/reports/ranking?format=html&" + mq;
    $("l-ranking-csv").href = "/api/v1/reports/ranking?format=csv&" + mq;
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = setInterval(load, REFRESH_MS);
  }

  function showSignin(msg) {
    $("main").hidden = true;
    $("detail").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = msg || "";
    if (timer) { clearInterval(timer); timer = null; }
    $("token").focus();
  }

  function started(w) {
    you = w;
    $("signin").hidden = true;
    $("who").textContent = w.name + " · " + roleText(w.role);
    if (w.province) $("province").textContent = w.province;
    $("back").hidden = w.role === "centre"; /* a centre manager has no province view to go back to */
    if (w.role === "centre" && !centreInHash()) window.location.hash = "centre=" + encodeURIComponent(w.site);
    showView();
    load();
    schedule();
  }

  function roleText(r) {
    return { viewer: "xem", manager: "quản lý", admin: "quản trị", centre: "trung tâm" }[r] || r;
  }

  /* The bar lists are drawn at their box's width: draw them again when it changes. */
  var pending = false, drawnW = 0;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      var box = centreInHash() ? $("chart-d-services") : $("chart-wait"), w = box.clientWidth;
      if (w === drawnW) return;
      drawnW = w;
      if (centreInHash()) { if (detail) drawDetail(detail); }
      else if (data) {
        renderCharts(data);
        if (trend) trendCharts(trend.months, data.targets, "chart-trend-wait", "chart-trend-sat");
      }
    });
  });

  window.addEventListener("hashchange", function () {
    if (you && you.role === "centre" && centreInHash() !== you.site) {
      window.location.hash = "centre=" + encodeURIComponent(you.site);
      return;
    }
    showView();
    window.scrollTo(0, 0);
  });

  $("search").addEventListener("input", renderTable);
  $("filter").addEventListener("change", renderTable);
  $("sort").addEventListener("change", renderTable);
  ["r-year", "r-quarter", "r-from", "r-to"].forEach(function (id) {
    $(id).addEventListener("change", function () { if (data) setReportLinks(data); });
  });
  $("report-form").addEventListener("submit", function (ev) { ev.preventDefault(); });

  $("signin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var token = $("token").value.trim();
    O.fetchJSON("/api/v1/session", { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify({ token: token }) }, 8000).then(function (r) {
      if (r.ok && r.body) {
        $("token").value = "";
        O.fetchJSON("/api/v1/session", {}, 8000).then(function (s) { started(s.ok && s.body ? s.body : r.body); });
      } else if (r.status === 401) showSignin("Mã truy cập không đúng · Unknown token");
      else showSignin("Máy chủ đang bận, thử lại sau · Server busy, try again");
    }, function () { showSignin("Không kết nối được máy chủ · Cannot reach the server"); });
  });

  $("signout").addEventListener("click", function () {
    O.fetchJSON("/api/v1/session", { method: "DELETE" }, 8000).then(function () { showSignin(""); });
  });

  function tick() { $("clock").textContent = clock.timeText(null, false); }
  tick();
  setInterval(tick, 1000);
  O.fetchJSON("/api/v1/session", {}, 8000).then(function (r) {
    if (r.ok && r.body) started(r.body);
    else showSignin("");
  }, function () { showSignin("Không kết nối được máy chủ · Cannot reach the server"); });
})();
