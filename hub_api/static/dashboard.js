/* The centre manager's dashboard: today's figures against the targets (wait ≤ 15 min, satisfaction
   ≥ 95 %), charts drawn as inline SVG, alerts, report downloads. Its data needs a manager token:
   the page signs in once (POST /api/session) and the hub keeps an HttpOnly session cookie. */
"use strict";

(function () {
  var O = Onestop, $ = O.$, el = O.el;
  var clock = new O.Clock();
  var REFRESH_MS = 15000;
  var data = null, timer = null, live = null;
  var GOOD = "#1f9d55", BAD = "#c62828", BLUE = "#1d4f91";

  function pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1).replace(".", ",") + " %"; }
  function minutes(s) { return s === null || s === undefined ? "—" : (s / 60).toFixed(1).replace(".", ",") + " phút"; }

  function kpi(label, en, value, state) {
    var box = el("div", "kpi" + (state ? " " + state : ""));
    box.appendChild(el("div", "kpi-value", value));
    var l = el("div", "kpi-label", label + " ");
    l.appendChild(el("em", "", en));
    box.appendChild(l);
    return box;
  }

  function renderKpis(d) {
    var t = d.today || {}, box = $("kpis");
    var waiting = 0;
    d.services.forEach(function (s) { waiting += s.waiting || 0; });
    var rated = 0, sat = 0;
    d.officers.forEach(function (o) { rated += o.ratings; sat += o.satisfied; });
    var q = rated ? sat / rated : null;
    box.textContent = "";
    box.appendChild(kpi("Số phiếu hôm nay", "Tickets today", String(t.issued || 0)));
    box.appendChild(kpi("Đã phục vụ", "Served", String(t.served || 0)));
    box.appendChild(kpi("Đang chờ", "Waiting now", String(waiting)));
    box.appendChild(kpi("Chờ trung bình", "Mean wait (≤ 15 min)", minutes(t.wait_mean_s),
                        t.wait_mean_s == null ? "" : t.wait_mean_s <= d.targets.wait_s ? "ok" : "bad"));
    box.appendChild(kpi("Chờ ≤ 15 phút", "Waits within target", pct(t.within_target)));
    box.appendChild(kpi("Hài lòng " + d.quarter.replace("-", " "), "Satisfaction (≥ 95 %)", pct(q),
                        q === null ? "" : q >= d.targets.satisfaction ? "ok" : "bad"));
  }

  function renderCharts(d) {
    var hours = [], values = [];
    for (var h = 6; h < 19; h++) { hours.push(O.pad(h) + "h"); values.push(d.arrivals_by_hour[h]); }
    var early = 0, late = 0;
    for (var e = 0; e < 6; e++) early += d.arrivals_by_hour[e];
    for (var l = 19; l < 24; l++) late += d.arrivals_by_hour[l];
    values[0] += early; values[values.length - 1] += late; /* nothing is left out of the chart */
    Charts.bars($("chart-arrivals"), { labels: hours, values: values, title: "Lượt lấy số theo giờ" });

    var wd = d.wait_distribution, target = d.targets.wait_s / 60, at = 0;
    wd.forEach(function (b, i) { if (b.from_min < target) at = i + 1; });
    Charts.bars($("chart-waits"), {
      labels: wd.map(function (b) { return b.label; }), values: wd.map(function (b) { return b.count; }),
      color: function (i) { return i < at ? GOOD : BAD; },
      targetAt: at, targetLabel: "15 phút", xLabel: "phút · min", title: "Số người theo thời gian chờ (phút)"
    });

    var rows = d.officers.filter(function (o) { return o.ratings > 0; }).map(function (o) {
      return { label: o.name, value: 100 * o.satisfaction, text: pct(o.satisfaction) + " (" + o.ratings + ")",
               color: o.satisfaction >= d.targets.satisfaction ? GOOD : BAD };
    });
    $("quarter").textContent = d.quarter.replace("-", " ");
    Charts.hbars($("chart-officers"), { rows: rows, max: 100, target: 100 * d.targets.satisfaction,
                                        targetLabel: "95 %", title: "Tỷ lệ hài lòng theo cán bộ", empty: "Chưa có đánh giá trong quý · No ratings yet" });

    var svc = d.services.map(function (s) {
      var w = s.waiting || 0, text = String(w);
      if (w && s.est_wait_s) text += " · ~" + O.duration(s.est_wait_s).vi;
      return { label: s.name, value: w, text: s.open === false && !w ? "đóng" : text,
               color: s.est_wait_s > d.targets.wait_s ? BAD : BLUE };
    });
    Charts.hbars($("chart-services"), { rows: svc, width: 1400, title: "Đang chờ theo lĩnh vực" });
  }

  /* The bar lists are drawn at their box's width (their text keeps its size): draw them again when it
     changes, once per frame at most. */
  var drawn = 0, pending = false;
  window.addEventListener("resize", function () {
    if (pending || !data || $("main").hidden) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      var w = $("chart-services").clientWidth;
      if (w !== drawn) { drawn = w; renderCharts(data); }
    });
  });

  function renderAlerts(d) {
    var list = $("alerts");
    list.textContent = "";
    $("alert-count").textContent = d.alerts.length ? String(d.alerts.length) : "";
    if (!d.alerts.length) {
      var ok = el("li", "none", "Không có cảnh báo ");
      ok.appendChild(el("em", "", "All clear"));
      list.appendChild(ok);
      return;
    }
    d.alerts.forEach(function (a) {
      var li = el("li", a.severity);
      li.appendChild(el("span", "sev", a.severity === "critical" ? "Nghiêm trọng" : "Cảnh báo"));
      var txt = el("span", "msg", a.message);
      txt.appendChild(el("em", "", a.message_en));
      li.appendChild(txt);
      if (a.since) li.appendChild(el("span", "since", clock.timeText(new Date(a.since), false)));
      list.appendChild(li);
    });
  }

  var ROLE_VI = { kiosk: "Máy lấy số", counter: "Quầy", rating: "Đánh giá", board: "Bảng hiển thị",
                  announcer: "Loa gọi số" };

  /* Each device of the site with the version it runs; a version other than the published release is
     marked (its update was rolled back, or it has not run yet). */
  function renderDevices(d) {
    var body = $("devices").querySelector("tbody");
    body.textContent = "";
    $("release").textContent = d.release ? "Bản phát hành " + d.release + " · Release " + d.release : "";
    d.devices.forEach(function (dev) {
      var tr = el("tr", dev.online === false ? "offline" : "");
      tr.dataset.device = dev.id;
      tr.appendChild(el("td", "id", dev.id));
      tr.appendChild(el("td", "", ROLE_VI[dev.role] || dev.role));
      tr.appendChild(el("td", "state", dev.online === null ? "Chưa kết nối" : dev.online ? "Trực tuyến" : "Mất kết nối"));
      var old = d.release && dev.version && dev.version !== d.release;
      var v = el("td", "version" + (old ? " outdated" : ""), dev.version || "—");
      if (old) v.title = "Chưa lên bản " + d.release + " · not on the published release";
      tr.appendChild(v);
      body.appendChild(tr);
    });
  }

  function render(d) {
    data = d;
    $("agency").textContent = d.site.agency;
    $("centre").textContent = d.site.name;
    $("main").hidden = false; /* shown before drawing: the charts measure their labels */
    renderKpis(d);
    renderCharts(d);
    drawn = $("chart-services").clientWidth;
    renderAlerts(d);
    renderDevices(d);
    setReportLinks(d);
  }

  function setReportLinks(d) {
    var y = d.quarter.slice(0, 4), q = d.quarter.slice(6);
    $("l-officers-html").href = "/api/reports/officers?format=html&year=" + y + "&quarter=" + q;
    $("l-officers-csv").href = "/api/reports/officers?format=csv&year=" + y + "&quarter=" + q;
    $("l-officers-year").href = "/api/reports/officers?format=html&year=" + y;
    if (!$("r-start").value) { $("r-start").value = d.day; $("r-end").value = d.day; }
  }

  function load() {
    O.fetchJSON("/api/dashboard", {}, 10000).then(function (r) {
      if (r.status === 401) return showSignin("");
      if (r.status === 403) return showSignin("Mã này không có quyền quản lý · This token is not a manager token");
      if (r.ok && r.body) render(r.body);
    }, function () { /* the next tick tries again */ });
  }

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () { timer = null; load(); schedule(REFRESH_MS); }, ms);
  }

  function showSignin(msg) {
    $("main").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = msg || "";
    $("token").focus();
  }

  function started(who) {
    $("signin").hidden = true;
    $("who").textContent = who.name + " · " + who.role;
    load();
    schedule(REFRESH_MS);
    if (!live) {
      live = new O.Live({
        site: function (site) { clock.sync(site); tick(); },
        snapshot: function () {},
        state: function () { schedule(1500); },
        connection: function (ok) { $("conn").hidden = ok; }
      });
      live.start();
    }
  }

  $("signin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var token = $("token").value.trim();
    O.fetchJSON("/api/session", { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify({ token: token }) }, 8000).then(function (r) {
      if (r.ok && r.body) { $("token").value = ""; started(r.body); }
      else showSignin("Mã truy cập không đúng · Unknown token");
    }, function () { showSignin("Không kết nối được máy chủ · Cannot reach the hub"); });
  });

  $("signout").addEventListener("click", function () {
    O.fetchJSON("/api/session", { method: "DELETE" }, 8000).then(function () { showSignin(""); });
  });

  $("report-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    window.location.href = "/api/reports?format=csv&by=" + $("r-by").value + "&period=" + $("r-period").value +
      "&start=" + $("r-start").value + "&end=" + $("r-end").value;
  });

  function tick() { $("clock").textContent = clock.timeText(null, false); }
  tick();
  setInterval(tick, 1000);
  O.fetchJSON("/api/session", {}, 8000).then(function (r) {
    if (r.ok && r.body) started(r.body);
    else showSignin("");
  }, function () { showSignin("Không kết nối được máy chủ · Cannot reach the hub"); });
})();
