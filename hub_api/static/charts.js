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
  /* What a screen reader says for a chart (an SVG is one image to it): its title, then every value. */
  function spoken(title, items) {
    return (title ? title + ": " : "") + items.join("; ");
  }

  function bars(box, opts) {
    var W = 640, H = opts.height || 260, L = 40, R = 12, T = 18, B = 34;
    var n = opts.values.length, max = niceMax(Math.max.apply(null, opts.values.concat([1])));
    var svg = node("svg", { viewBox: "0 0 " + W + " " + H, "class": "svg-chart", role: "img",
                            "aria-label": spoken(opts.title, opts.labels.map(function (l, i) {
                              return l + " " + opts.values[i]; })) });
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

  /* Measures text as the SVG draws it (its CSS class gives the font), in the SVG's own units: with the
     browser's text layout when the chart is displayed, else with a canvas and the same computed font. */
  function measurer(svg) {
    var probe = node("text", { x: 0, y: -1000, visibility: "hidden" }), canvas = null;
    svg.appendChild(probe);
    function width(cls, text) {
      probe.setAttribute("class", cls);
      probe.textContent = text;
      var w = text ? probe.getComputedTextLength() : 0;
      if (w > 0 || !text) return w;
      var st = window.getComputedStyle(probe); /* not displayed (yet): no layout to ask */
      canvas = canvas || document.createElement("canvas").getContext("2d");
      canvas.font = st.fontStyle + " " + st.fontWeight + " " + st.fontSize + " " + st.fontFamily;
      return canvas.measureText(text).width;
    }
    /* the text, or its longest start followed by "…" that is at most `room` wide */
    function fit(cls, text, room) {
      if (width(cls, text) <= room) return text;
      var lo = 0, hi = text.length - 1;
      while (lo < hi) {
        var mid = Math.ceil((lo + hi) / 2);
        if (width(cls, text.slice(0, mid).replace(/\s+$/, "") + "…") <= room) lo = mid; else hi = mid - 1;
      }
      return text.slice(0, lo).replace(/\s+$/, "") + "…";
    }
    /* the text in at most `most` lines of at most `room` each, broken between words (the last line
       ends with "…" when the text does not fit) */
    function wrap(cls, text, room, most) {
      var lines = [], words = text.split(/\s+/), line = "";
      for (var i = 0; i < words.length; i++) {
        var next = line ? line + " " + words[i] : words[i];
        if (!line || width(cls, next) <= room) { line = next; continue; }
        if (lines.length === most - 1) { line = next + " " + words.slice(i + 1).join(" "); break; }
        lines.push(line);
        line = words[i];
      }
      lines.push(fit(cls, line.trim(), room));
      return lines;
    }
    return { width: width, fit: fit, wrap: wrap, done: function () { svg.removeChild(probe); } };
  }

  /* opts: rows [{label, value, text, color}], max, target (value), targetLabel, empty, width (of the
     drawing when the box is not displayed). The drawing is as wide as its box, so its text has the
     size the CSS gives it at any window width (draw again when the box's width changes). The margins
     are measured: the left one takes the longest label, the right one the longest value text (at
     least 150), so no text is ever cut off. When a label would need more than 45 % of the width (a
     phone, a long commune or service name), every label goes above its bar, as wide as the drawing
     and on two lines if need be (only a label longer than that ends with "…"; its tooltip is whole). */
  function hbars(box, opts) {
    var rows = opts.rows, W = Math.round(box.clientWidth) || opts.width || 640;
    var BAR = 34, LINE = 20, T = 22, PAD = 4, GAP = 10;
    var max = opts.max || niceMax(Math.max.apply(null, rows.map(function (r) { return r.value; }).concat([1])));
    var svg = node("svg", { "class": "svg-chart", role: "img",
                            "aria-label": spoken(opts.title, rows.length ? rows.map(function (r) {
                              return r.label + " " + r.text; }) : [opts.empty || ""]) });
    box.textContent = "";
    box.appendChild(svg); /* in the document first, so that text can be measured */
    var m = measurer(svg), widest = 0, valueW = 0;
    rows.forEach(function (r) {
      widest = Math.max(widest, m.width("name", r.label));
      valueW = Math.max(valueW, m.width("val-strong", r.text));
    });
    var stacked = widest > W * 0.45 - PAD - GAP; /* the labels above their bars */
    var L = stacked ? PAD : Math.ceil(widest) + PAD + GAP;
    var R = Math.max(150, Math.ceil(valueW) + 8 + PAD); /* steady while the values change */
    var cw = W - L - R, y = T;
    var placed = rows.map(function (r) { /* each row: its label's lines, its top and its bar's top */
      var lines = stacked ? m.wrap("name", r.label, W - 2 * PAD, 2) : [r.label];
      var row = { r: r, lines: lines, top: y, barY: y + (stacked ? lines.length * LINE + 2 : 0) };
      y = row.barY + BAR;
      return row;
    });
    var H = Math.max(y, T + BAR) + 8;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    if (!rows.length) {
      svg.appendChild(node("text", { x: W / 2, y: T + 18, "class": "empty", "text-anchor": "middle" }, opts.empty || "—"));
    }
    placed.forEach(function (p) {
      var r = p.r;
      svg.appendChild(node("rect", { x: L, y: p.barY + 6, width: cw, height: BAR - 12, rx: 4, "class": "track" }));
      var w = (cw * Math.min(r.value, max)) / max;
      var bar = node("rect", { x: L, y: p.barY + 6, width: Math.max(w, 0), height: BAR - 12, rx: 4,
                               fill: r.color || "#1d4f91", "class": "bar" });
      bar.appendChild(node("title", {}, r.label + ": " + r.text));
      svg.appendChild(bar);
      p.lines.forEach(function (line, k) {
        var name = stacked
          ? node("text", { x: PAD, y: p.top + (k + 1) * LINE - 4, "class": "name", "text-anchor": "start" }, line)
          : node("text", { x: L - GAP, y: p.barY + BAR / 2 + 5, "class": "name", "text-anchor": "end" }, line);
        name.appendChild(node("title", {}, r.label));
        svg.appendChild(name);
      });
      svg.appendChild(node("text", { x: W - R + 8, y: p.barY + BAR / 2 + 5, "class": "val-strong" }, r.text));
    });
    m.done();
    if (typeof opts.target === "number") {
      var tx = L + (cw * opts.target) / max;
      if (!stacked) {
        svg.appendChild(node("line", { x1: tx, x2: tx, y1: T - 8, y2: H - 6, "class": "target" }));
      } else { /* across each bar, never through a label */
        placed.forEach(function (p) {
          svg.appendChild(node("line", { x1: tx, x2: tx, y1: p.barY + 2, y2: p.barY + BAR - 2, "class": "target" }));
        });
      }
      svg.appendChild(node("text", { x: tx, y: T - 10, "class": "target-label", "text-anchor": "middle" },
                           opts.targetLabel || ""));
    }
  }

  return { bars: bars, hbars: hbars };
})();
