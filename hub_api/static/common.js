/* onestop pages: helpers shared by the TV board and the soft caller.
   Plain ES5-compatible JavaScript, no framework and no build step: it must run in Chromium on a
   Raspberry Pi in a hall without internet. */
"use strict";

var Onestop = (function () {
  var WEEKDAYS_VI = ["Chủ Nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"];
  var WEEKDAY_EN = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  /* The site's wall clock: the hub's time (a Pi without internet may not know the time) shown in
     the site's time zone. */
  function Clock() {
    this.tz = "Asia/Ho_Chi_Minh";
    this.offsetS = 7 * 3600;
    this.skewMs = 0;
    this.fmt = null;
  }
  Clock.prototype.sync = function (site) {
    var t = Date.parse(site.now);
    if (!isNaN(t)) this.skewMs = t - Date.now();
    if (typeof site.utc_offset_s === "number") this.offsetS = site.utc_offset_s;
    if (site.timezone && site.timezone !== this.tz) {
      this.tz = site.timezone;
      this.fmt = null;
    }
  };
  Clock.prototype.now = function () {
    return new Date(Date.now() + this.skewMs);
  };
  /* {y, mo, d, h, mi, s, wd} of a Date (default: now) in the site's time zone. */
  Clock.prototype.parts = function (date) {
    var d = date || this.now();
    try {
      if (!this.fmt) {
        this.fmt = new Intl.DateTimeFormat("en-GB", {
          timeZone: this.tz, hourCycle: "h23", weekday: "short", year: "numeric",
          month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"
        });
      }
      var p = {};
      this.fmt.formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
      return { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour % 24, mi: +p.minute, s: +p.second,
               wd: WEEKDAY_EN[p.weekday] };
    } catch (e) { /* no time zone data: use the offset the hub told us */
      var u = new Date(d.getTime() + this.offsetS * 1000);
      return { y: u.getUTCFullYear(), mo: u.getUTCMonth() + 1, d: u.getUTCDate(), h: u.getUTCHours(),
               mi: u.getUTCMinutes(), s: u.getUTCSeconds(), wd: u.getUTCDay() };
    }
  };
  Clock.prototype.timeText = function (date, seconds) {
    /* a time the page cannot read (a health "ts" of "x") shows as dashes, never "NaN:NaN" */
    if (date && isNaN(date.getTime())) return seconds === false ? "--:--" : "--:--:--";
    var p = this.parts(date);
    return pad(p.h) + ":" + pad(p.mi) + (seconds === false ? "" : ":" + pad(p.s));
  };
  Clock.prototype.dateText = function (date) {
    var p = this.parts(date);
    return WEEKDAYS_VI[p.wd] + ", " + pad(p.d) + "/" + pad(p.mo) + "/" + p.y;
  };

  /* "khoảng 25 phút" / "about 25 min" for a wait in seconds. */
  function duration(s) {
    var min = Math.max(1, Math.ceil(s / 60));
    if (min < 60) return { vi: min + " phút", en: min + " min" };
    var h = Math.floor(min / 60), m = min % 60;
    return { vi: h + " giờ" + (m ? " " + m + " phút" : ""), en: h + " h" + (m ? " " + m + " min" : "") };
  }

  function waitText(waiting, estS, open) {
    if (!waiting) {
      if (open === false) return { vi: "Ngoài giờ tiếp nhận", en: "Closed now" };
      return { vi: "Không có người chờ", en: "No one waiting" };
    }
    var d = duration(estS || 0);
    return { vi: "Đang chờ: " + waiting + " — khoảng " + d.vi,
             en: waiting + " waiting, about " + d.en };
  }

  function fetchJSON(url, opts, timeoutMs) {
    opts = opts || {};
    var ctl = typeof AbortController !== "undefined" ? new AbortController() : null;
    var timer = null;
    if (ctl) {
      opts.signal = ctl.signal;
      timer = setTimeout(function () { ctl.abort(); }, timeoutMs || 10000);
    }
    opts.cache = "no-store";
    opts.credentials = "same-origin";
    return fetch(url, opts).then(function (r) {
      if (timer) clearTimeout(timer);
      return r.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        return { status: r.status, ok: r.ok, body: body };
      });
    }, function (err) {
      if (timer) clearTimeout(timer);
      throw err;
    });
  }

  /* The live site over Server-Sent Events. handlers: site(site), snapshot(snap), state(msg),
     connection(bool). EventSource retries by itself after a network error; this also reopens it
     when it gave up (an HTTP error), and when /healthz shows that an "open" stream is dead. */
  function Live(handlers) {
    this.h = handlers;
    this.es = null;
    this.connected = null;
    this.version = null;
    this.stale = 0;
    this.checkMs = 10000;
  }
  Live.prototype.start = function () {
    var self = this;
    this.open();
    setInterval(function () { self.check(); }, this.checkMs);
  };
  Live.prototype.setConnected = function (ok) {
    if (ok === this.connected) return;
    this.connected = ok;
    document.documentElement.setAttribute("data-connected", ok ? "yes" : "no");
    if (this.h.connection) this.h.connection(ok);
  };
  Live.prototype.open = function () {
    var self = this;
    if (this.es) this.es.close();
    var es = new EventSource("/api/stream");
    this.es = es;
    es.addEventListener("snapshot", function (e) {
      self.setConnected(true);
      self.loadSite();
      self.h.snapshot(JSON.parse(e.data));
    });
    es.addEventListener("state", function (e) {
      self.h.state(JSON.parse(e.data));
    });
    es.onerror = function () {
      if (self.es !== es) return;
      self.setConnected(false);
      if (es.readyState === 2) { /* CLOSED: the browser gave up; try again ourselves */
        setTimeout(function () { if (self.es === es) self.open(); }, 3000);
      }
    };
  };
  Live.prototype.loadSite = function () {
    var self = this;
    fetchJSON("/api/site", {}, 8000).then(function (r) {
      if (!r.ok || !r.body) return;
      if (self.version && r.body.version !== self.version) {
        window.location.reload(); /* the hub was upgraded: load the new page */
        return;
      }
      self.version = r.body.version;
      self.h.site(r.body);
    }, function () { /* the next snapshot asks again */ });
  };
  Live.prototype.check = function () {
    var self = this, es = this.es;
    fetchJSON("/healthz", {}, 5000).then(function () {
      if (es.readyState !== 1) {
        self.stale += 1;
        if (self.stale >= 3) { self.stale = 0; self.open(); }
      } else {
        self.stale = 0;
      }
    }, function () {
      self.setConnected(false);
      if (es.readyState === 1) self.open(); /* "open" but the hub does not answer: a dead link */
    });
  };

  /* A command id: the same one is sent again when a press is retried (the controller then answers
     again without acting twice). crypto.randomUUID needs a secure context; getRandomValues does not. */
  function commandId() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    var s = "web-";
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return s;
  }

  return { $: $, el: el, pad: pad, Clock: Clock, duration: duration, waitText: waitText,
           fetchJSON: fetchJSON, Live: Live, commandId: commandId };
})();
