/* The hall's TV board: last calls (newest highlighted), waiting per service, clock, notice. */
"use strict";

(function () {
  var O = Onestop, $ = O.$, el = O.el;
  var BLINK_MS = 6000;
  var PAGE_MS = 10000;
  var clock = new O.Clock();
  var S = { site: null, board: { calls: [], services: [] }, services: {}, counters: {}, controller: null };
  /* "calls" (the last calls, newest highlighted) or "grid" (every counter and the number it serves):
     /board?layout=grid, which a TV board's unit opens when its device says layout = "grid". */
  var LAYOUT = /(^|[?&])layout=grid(&|$)/.test(window.location.search.slice(1)) ? "grid" : "calls";
  var lastGridTop = null;
  var lastTop = null;
  var blinkTimer = null;
  var page = 0;

  function callsShown() {
    return (S.site && S.site.board && S.site.board.calls_shown) || 8;
  }

  /* Whether a text is wider than its box by any fraction of a pixel: enough for "…" to replace its
     end, while scrollWidth and clientWidth, whole pixels, may still be equal. (A box as wide as its
     text, without "…", is left to scrollWidth: its own width is rounded much like its text's.) */
  function cut(n) {
    var range = document.createRange(), st = window.getComputedStyle(n);
    if (st.textOverflow !== "ellipsis") return false;
    range.selectNodeContents(n);
    var inner = n.getBoundingClientRect().width - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight) -
      parseFloat(st.borderLeftWidth) - parseFloat(st.borderRightWidth);
    return range.getBoundingClientRect().width > inner + 0.01;
  }

  /* One font size for a group of texts (the numbers, the counter labels): the style sheet's size,
     or smaller until the widest of them fits its box, so that long labels never get cut. */
  function fitGroup(nodes, minShare) {
    if (!nodes.length) return;
    var i;
    for (i = 0; i < nodes.length; i++) nodes[i].style.fontSize = "";
    var size = parseFloat(window.getComputedStyle(nodes[0]).fontSize);
    var min = size * (minShare || 0.5);
    function overflows() {
      for (var j = 0; j < nodes.length; j++) {
        if (nodes[j].scrollWidth > nodes[j].clientWidth + 1 || cut(nodes[j])) return true;
      }
      return false;
    }
    while (overflows() && size > min) {
      size = Math.floor(size * 0.92);
      for (i = 0; i < nodes.length; i++) nodes[i].style.fontSize = size + "px";
    }
  }

  function callItem(call, newest) {
    var li = el("li", newest ? "newest" : "");
    if (!call) {
      li.className += " empty";
      return li;
    }
    /* A citizen who booked a slot: marked beside the label of the newest call, and above the arrow
       on the others (the number and the counter keep their room). */
    var badge = null;
    if (call.booked) {
      li.className += " booked";
      badge = el("span", "badge", "Đặt lịch ");
      badge.appendChild(el("em", "", "Booked"));
    }
    if (newest) {
      var label = el("div", "label", "Xin mời số ");
      label.appendChild(el("em", "", "Now calling"));
      if (badge) label.appendChild(badge);
      li.appendChild(label);
    }
    li.appendChild(el("span", "num", call.number));
    var arrow = el("span", "arrow", "→");
    if (badge && !newest) {
      var mid = el("span", "mid");
      mid.appendChild(badge);
      mid.appendChild(arrow);
      arrow = mid;
    }
    li.appendChild(arrow);
    li.appendChild(el("span", "ctr", call.counter_label || ("Quầy " + call.counter)));
    li.setAttribute("data-number", call.number);
    return li;
  }

  function renderCalls() {
    var calls = (S.board.calls || []).slice(0, callsShown());
    var list = $("calls");
    var n = callsShown();
    list.style.setProperty("--rows", String(Math.max(1, Math.ceil((n - 1) / 2))));
    list.style.setProperty("--rows1", String(Math.max(1, n - 1)));
    list.textContent = "";
    for (var i = 0; i < n; i++) list.appendChild(callItem(calls[i], i === 0));
    fitGroup(list.querySelectorAll("li.newest .num"));
    fitGroup(list.querySelectorAll("li.newest .ctr"));
    fitGroup(list.querySelectorAll("li:not(.newest) .num"));
    fitGroup(list.querySelectorAll("li:not(.newest) .ctr"));
    var top = calls.length ? calls[0].number + "|" + calls[0].counter + "|" + calls[0].ts : "";
    var first = list.firstChild;
    if (lastTop !== null && top && top !== lastTop) {
      first.className += " blink";
      if (blinkTimer) clearTimeout(blinkTimer);
      blinkTimer = setTimeout(function () {
        var f = $("calls").firstChild;
        if (f) f.className = f.className.replace(" blink", "");
        blinkTimer = null;
      }, BLINK_MS);
    } else if (blinkTimer && top === lastTop) {
      first.className += " blink"; /* a re-render while blinking keeps blinking */
    }
    lastTop = top;
  }

  function serviceRows() {
    var rows = [];
    var names = {};
    if (S.site) S.site.services.forEach(function (s) { names[s.id] = s; });
    (S.board.services || []).forEach(function (b) {
      var live = S.services[b.service] || {};
      var conf = names[b.service] || {};
      rows.push({
        id: b.service, name: b.name || conf.name || b.service, nameEn: live.name_en || conf.name_en || "",
        waiting: b.waiting, est: b.est_wait_s, open: live.open
      });
    });
    return rows;
  }

  function serviceItem(r) {
    var w = O.waitText(r.waiting, r.est, r.open);
    var li = el("li", !r.waiting ? (r.open === false ? "closed" : "idle") : "");
    li.setAttribute("data-service", r.id);
    li.appendChild(el("div", "name", r.name));
    li.appendChild(el("div", "wait", w.vi));
    li.appendChild(el("div", "wait-en", (r.nameEn ? r.nameEn + " · " : "") + w.en));
    return li;
  }

  function fitService(li) {
    fitGroup([li.querySelector(".wait")]);
    fitGroup([li.querySelector(".wait-en")]);
  }

  /* Pages of services that fit the panel, filled by measuring (names take one or two lines). */
  function paginate(list, rows) {
    var pages = [], start = 0;
    while (start < rows.length) {
      list.textContent = "";
      var end = start;
      while (end < rows.length) {
        var li = serviceItem(rows[end]);
        list.appendChild(li);
        fitService(li);
        if (list.scrollHeight > list.clientHeight + 1 && end > start) {
          list.removeChild(li);
          break;
        }
        end += 1;
      }
      pages.push([start, end]);
      start = end;
    }
    return pages.length ? pages : [[0, 0]];
  }

  function renderServices() {
    var list = $("services");
    var rows = serviceRows();
    var pages = paginate(list, rows);
    if (page >= pages.length) page = 0;
    list.textContent = "";
    for (var i = pages[page][0]; i < pages[page][1]; i++) {
      var li = serviceItem(rows[i]);
      list.appendChild(li);
      fitService(li);
    }
    $("pager").textContent = pages.length > 1 ? (page + 1) + " / " + pages.length : "";
  }

  function renderSite() {
    var s = S.site;
    if (!s) return;
    $("agency").textContent = s.agency;
    $("centre").textContent = s.name;
    /* "Trung tâm Phục vụ hành chính công tỉnh …" is long: smaller rather than cut off ("…" only
       below 70 % of the size) */
    fitGroup([$("agency")], 0.7);
    fitGroup([$("centre")], 0.7);
    document.title = "Bảng gọi số — " + s.name;
    var notice = (s.board && s.board.notice) || "";
    var box = $("notice"), text = $("notice-text");
    if (text.textContent !== (notice || s.address || "")) {
      text.textContent = notice || s.address || "";
      box.className = notice ? "notice" : "notice static";
      /* about 140 px a second whatever the length, starting with the text already in view */
      var secs = Math.max(12, text.scrollWidth / 140);
      box.style.setProperty("--marquee-s", secs.toFixed(1) + "s");
      var lead = (0.7 * box.clientWidth) / Math.max(1, text.scrollWidth);
      text.style.animationDelay = notice ? (-lead * secs).toFixed(1) + "s" : "0s";
    }
  }

  /* Columns and rows for n cells in a box: the layout whose cells are closest to 16:9 wins. */
  function gridShape(n, w, h) {
    var best = null;
    for (var cols = 1; cols <= n; cols++) {
      var rows = Math.ceil(n / cols), ratio = (w / cols) / (h / rows);
      var score = Math.abs(Math.log(ratio / 1.8)) + 0.02 * (cols * rows - n);
      if (!best || score < best.score) best = { cols: cols, rows: rows, score: score };
    }
    return best;
  }

  function renderGrid() {
    if (LAYOUT !== "grid" || !S.site) return;
    var box = $("grid"), counters = S.site.counters || [];
    var shape = gridShape(counters.length || 1, box.clientWidth, box.clientHeight);
    box.style.setProperty("--cols", String(shape.cols));
    box.style.setProperty("--grid-rows", String(shape.rows));
    var gap = parseFloat(window.getComputedStyle(box).rowGap) || 0;
    var cellH = (box.clientHeight - gap * (shape.rows + 1)) / shape.rows;
    box.style.setProperty("--num-size", Math.floor(cellH * 0.42) + "px");
    box.style.setProperty("--label-size", Math.floor(cellH * 0.3) + "px");
    var newest = (S.board.calls || [])[0];
    box.textContent = "";
    counters.forEach(function (c) {
      var st = S.counters[c.id] || {}, status = st.status || "closed";
      var cell = el("div", "cell");
      cell.setAttribute("data-counter", c.id);
      cell.setAttribute("data-status", status);
      cell.appendChild(el("div", "clabel", st.label || c.label));
      var num = st.serving ? st.serving.number : status === "closed" ? "Đóng" : status === "paused" ? "Tạm dừng" : "—";
      cell.appendChild(el("div", "cnum", num));
      if (newest && newest.counter === c.id && st.serving && st.serving.number === newest.number) {
        cell.className += " newest";
      }
      box.appendChild(cell);
    });
    fitGroup(box.querySelectorAll(".cnum"), 0.3);
    fitGroup(box.querySelectorAll(".clabel"), 0.3);
    var top = newest ? newest.number + "|" + newest.counter + "|" + newest.ts : "";
    var hot = box.querySelector(".cell.newest");
    if (hot && lastGridTop !== null && top !== lastGridTop) {
      hot.className += " blink";
    }
    lastGridTop = top;
  }

  function renderController() {
    $("ctl-banner").hidden = S.controller !== false;
  }

  function renderAll() {
    renderSite();
    if (LAYOUT === "grid") {
      renderGrid();
    } else {
      renderCalls();
      renderServices();
    }
    renderController();
  }

  function tick() {
    $("time").textContent = clock.timeText();
    $("date").textContent = clock.dateText();
  }

  var live = new O.Live({
    site: function (site) {
      S.site = site;
      clock.sync(site);
      tick();
      renderAll();
    },
    snapshot: function (snap) {
      S.board = snap.board || { calls: [], services: [] };
      S.services = snap.services || {};
      S.counters = snap.counters || {};
      S.controller = snap.controller_online;
      renderAll();
    },
    state: function (msg) {
      if (msg.kind === "board") {
        S.board = msg.data;
        renderAll();
      } else if (msg.kind === "counter") {
        S.counters[msg.key] = msg.data;
        renderGrid();
      } else if (msg.kind === "service") {
        S.services[msg.key] = msg.data;
        if (LAYOUT === "calls") renderServices();
      } else if (msg.kind === "controller") {
        S.controller = msg.data.online;
        renderController();
      }
    },
    connection: function (ok) {
      $("conn").hidden = ok;
    }
  });

  if (LAYOUT === "grid") document.body.className += " grid-layout";
  /* A new size (a TV's resolution set, a window resized): lay everything out again. */
  var resizing = null;
  window.addEventListener("resize", function () {
    if (resizing) clearTimeout(resizing);
    resizing = setTimeout(function () { resizing = null; renderAll(); }, 100);
  });
  tick();
  setInterval(tick, 1000);
  setInterval(function () { if (LAYOUT === "calls") { page += 1; renderServices(); } }, PAGE_MS);
  live.start();
})();
