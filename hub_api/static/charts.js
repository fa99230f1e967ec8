/* Small inline-SVG charts for the dashboard: vertical bars with an optional target line, and
   horizontal bars. No library, no network: the site has no internet. */
"use strict";

var Charts = (function () {
  var NS = "http://www.w3.org/2000/svg";

  function node(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function niceMax(v) {
    if (v <= 5) return 5;
    var p = Math.pow(10, Math.floor(Math.log(v) / Math.LN10));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  /* opts: labels[], values[], color(i, v) -> css color, targetAt (x position between bars, in bar
     units), targetLabel, height, yLabel */
  function bars(box, opts) {
    var W = 640, H = opts.height || 260, L = 40, R = 12, T = 18, B = 34;
    var n = opts.values.length, max = niceMax(Math.max.apply(null, opts.values.concat([1])));
    var svg = node("svg", { viewBox: "0 0 " + W + " " + H, "class": "svg-chart", role: "img",
                            "aria-label": opts.title || "" });
    var cw = (W - L - R) / n, ch = H - T - B;
    for (var g = 0; g <= 5; g++) {
      var gy = T + ch - (ch * g) / 5;
      svg.appendChild(node("line", { x1: L, x2: W - R, y1: gy, y2: gy, "class": "grid" }));
      svg.appendChild(node("text", { x: L - 6, y: gy + 4, "class": "axis", "text-anchor": "end" },
                           String(Math.round((max * g) / 5))));
    }
    for (var i = 0; i < n; i++) {
      var v = opts.values[i], h = (ch * v) / max, x = L + i * cw;
      var bar = node("rect", { x: x + cw * 0.14, y: T + ch - h, width: cw * 0.72, height: Math.max(h, 0),
                               rx: 3, fill: opts.color ? opts.color(i, v) : "#1d4f91", "class": "bar" });
      bar.appendChild(node("title", {}, opts.labels[i] + ": " + v));
      svg.appendChild(bar);
      if (v > 0 && cw > 18) {
        svg.appendChild(node("text", { x: x + cw / 2, y: T + ch - h - 4, "class": "val", "text-anchor": "middle" },
                             String(v)));
      }
      if (!opts.every || i % opts.every === 0) {
        svg.appendChild(node("text", { x: x + cw / 2, y: H - B + 16, "class": "axis", "text-anchor": "middle" },
                             opts.labels[i]));
      }
    }
    if (typeof opts.targetAt === "number") {
      var tx = L + opts.targetAt * cw;
      svg.appendChild(node("line", { x1: tx, x2: tx, y1: T - 6, y2: T + ch, "class": "target" }));
      svg.appendChild(node("text", { x: tx + 5, y: T + 4, "class": "target-label" }, opts.targetLabel || ""));
    }
    if (opts.xLabel) {
      svg.appendChild(node("text", { x: W - R, y: H - 4, "class": "axis", "text-anchor": "end" }, opts.xLabel));
    }
    box.textContent = "";
    box.appendChild(svg);
  }

  /* opts: rows [{label, value, text, color}], max, target (value), targetLabel, empty, width (of the
     drawing: wider for a full-width panel, so that text keeps its size) */
  function hbars(box, opts) {
    var rows = opts.rows, W = opts.width || 640, rowH = 34, L = W > 900 ? 360 : 190, R = 150, T = 22;
    var maxChars = W > 900 ? 48 : 24;
    var H = T + Math.max(rows.length, 1) * rowH + 8;
    var max = opts.max || niceMax(Math.max.apply(null, rows.map(function (r) { return r.value; }).concat([1])));
    var svg = node("svg", { viewBox: "0 0 " + W + " " + H, "class": "svg-chart", role: "img" });
    var cw = W - L - R;
    if (!rows.length) {
      svg.appendChild(node("text", { x: W / 2, y: T + 18, "class": "empty", "text-anchor": "middle" }, opts.empty || "—"));
    }
    rows.forEach(function (r, i) {
      var y = T + i * rowH;
      svg.appendChild(node("rect", { x: L, y: y + 6, width: cw, height: rowH - 12, rx: 4, "class": "track" }));
      var w = (cw * Math.min(r.value, max)) / max;
      var bar = node("rect", { x: L, y: y + 6, width: Math.max(w, 0), height: rowH - 12, rx: 4,
                               fill: r.color || "#1d4f91", "class": "bar" });
      bar.appendChild(node("title", {}, r.label + ": " + r.text));
      svg.appendChild(bar);
      svg.appendChild(node("text", { x: L - 10, y: y + rowH / 2 + 5, "class": "name", "text-anchor": "end" },
                           r.label.length > maxChars ? r.label.slice(0, maxChars - 1) + "…" : r.label));
      svg.appendChild(node("text", { x: W - R + 8, y: y + rowH / 2 + 5, "class": "val-strong" }, r.text));
    });
    if (typeof opts.target === "number") {
      var tx = L + (cw * opts.target) / max;
      svg.appendChild(node("line", { x1: tx, x2: tx, y1: T - 8, y2: H - 6, "class": "target" }));
      svg.appendChild(node("text", { x: tx, y: T - 10, "class": "target-label", "text-anchor": "middle" },
                           opts.targetLabel || ""));
    }
    box.textContent = "";
    box.appendChild(svg);
  }

  return { bars: bars, hbars: hbars };
})();
