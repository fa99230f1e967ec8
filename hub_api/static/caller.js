/* The soft caller: a clerk's keypad in the browser. The hub sends each command as the counter's web
   keypad device; a key stays disabled until its answer arrives, and a retried press reuses its id. */
"use strict";

(function () {
  var O = Onestop, $ = O.$, el = O.el;
  var C = decodeURIComponent(window.location.pathname.replace(/\/+$/, "").split("/").pop());
  var API = "/api/caller/" + encodeURIComponent(C);
  var clock = new O.Clock();
  var S = { site: null, counter: null, counters: {}, services: {}, queue: null, controller: null };
  var busy = false;
  var signedIn = false;
  var queueTimer = null;
  /* The citizen's name noted for the ticket served now ([citizen_id] prefill_name): fetched for this
     signed-in counter only, shown under the number, never stored by the page. */
  var citizen = { ticket: null, name: null, asked: null };

  /* What the clerk reads for each error code: Vietnamese first, English second. */
  var ERRORS = {
    counter_closed: ["Quầy đang đóng hoặc tạm dừng", "The counter is closed or paused"],
    no_current_ticket: ["Chưa có công dân nào đang được phục vụ", "Nobody is being served"],
    not_found: ["Không tìm thấy số này trong hàng chờ của quầy", "No such waiting or skipped number here"],
    unknown_service: ["Lĩnh vực không tồn tại", "Unknown service"],
    service_closed: ["Lĩnh vực đang ngoài giờ tiếp nhận", "The service is closed now"],
    daily_limit: ["Đã hết số trong ngày", "The daily limit is reached"],
    forbidden: ["Quầy này không được phép làm việc này", "Not allowed for this counter"],
    bad_request: ["Yêu cầu không hợp lệ", "Invalid request"],
    no_reply: ["Bộ điều khiển hàng chờ không trả lời, xin bấm lại", "The queue controller did not answer; press again"],
    keypad_unavailable: ["Bàn phím web chưa được cấp tài khoản, xin báo kỹ thuật", "The web keypad has no account; call the technician"],
    signed_out: ["Phiên làm việc đã hết, xin đăng nhập lại", "Signed out; sign in again"],
    no_web_keypad: ["Quầy này không có trang gọi số", "This counter has no soft caller"],
    officer_elsewhere: ["Cán bộ này đang làm việc ở quầy khác: đóng quầy đó, hoặc chọn chuyển sang đây",
      "This officer works at another counter: close it there, or choose to move here"],
    network: ["Mất kết nối tới máy chủ, xin bấm lại", "Cannot reach the hub; press again"]
  };

  var DONE = {
    call_next: "Đã gọi số", call: "Đã gọi số", recall: "Đã gọi lại số", skip: "Đã bỏ qua số",
    finish: "Đã xong số", transfer: "Đã chuyển số"
  };
  var DONE_EN = {
    call_next: "Called", call: "Called", recall: "Called again", skip: "Skipped", finish: "Finished",
    transfer: "Transferred"
  };

  function serviceName(id) {
    var s = S.site && S.site.services.filter(function (x) { return x.id === id; })[0];
    return s ? s.name : id;
  }

  function counterConf() {
    return S.site && S.site.counters.filter(function (x) { return x.id === C; })[0];
  }

  function say(kind, vi, en) {
    var m = $("message");
    m.className = "message " + kind;
    m.textContent = vi;
    if (en) {
      m.appendChild(document.createTextNode(" "));
      m.appendChild(el("em", "", en));
    }
  }

  function errorText(err) {
    var code = (err && err.code) || "network";
    var t = ERRORS[code] || ["Lỗi: " + code, (err && err.message) || ""];
    return t;
  }

  /* -- rendering ------------------------------------------------------------------------------ */
  /* The dossier codes of result pickups served here, by ticket id: the public state leaves them out
     (a dossier code leads to the citizen on the province's portal); this counter's session asks. */
  var dossiers = {}, asking = {};
  function askDossier(id) {
    if (asking[id]) return;
    asking[id] = true;
    O.fetchJSON(API + "/serving", {}, 8000).then(function (r) {
      var t = r.ok && r.body ? r.body.ticket : null;
      if (t && t.id === id && t.dossier) {
        dossiers[id] = t.dossier;
        render();
      } else {
        delete asking[id];
      }
    }, function () { delete asking[id]; });
  }

  /* What the clerk should know of the current ticket: the booked slot, or the dossier to return. */
  function renderNote(t) {
    var note = $("ticket-note");
    note.textContent = "";
    var parts = [];
    if (t && t.dossier) dossiers[t.id] = t.dossier;
    if (t && t.pickup && !dossiers[t.id]) askDossier(t.id);
    var dossier = t ? t.dossier || dossiers[t.id] : null;
    if (t && t.booking) {
      var from = clock.timeText(new Date(t.booking.slot_start), false);
      var to = clock.timeText(new Date(t.booking.slot_end), false);
      parts.push(["booked", "Đặt lịch " + from + "–" + to, "Booked"]);
    }
    if (dossier) parts.push(["dossier", "Trả kết quả · hồ sơ " + dossier, "Result pickup"]);
    else if (t && t.pickup) parts.push(["dossier", "Trả kết quả", "Result pickup"]);
    for (var i = 0; i < parts.length; i++) {
      var line = el("span", parts[i][0], parts[i][1] + " ");
      line.appendChild(el("em", "", parts[i][2]));
      note.appendChild(line);
    }
    note.hidden = !parts.length;
  }

  function render() {
    var c = S.counter || { status: "closed", serving: null, officer: null };
    var conf = counterConf();
    var label = (c.label || (conf && conf.label) || ("Quầy " + C));
    $("label").textContent = label;
    $("signin-label").textContent = label;
    document.title = "Gọi số — " + label;
    var st = $("status");
    var statusText = { open: "Đang mở · Open", paused: "Tạm dừng · Paused", closed: "Đóng · Closed" };
    st.textContent = S.counter ? statusText[c.status] || c.status : "…";
    st.className = "status st-" + (S.counter ? c.status : "unknown");
    var off = $("officer");
    off.textContent = "";
    if (c.officer) {
      off.appendChild(document.createTextNode("Cán bộ: " + c.officer.name + " "));
      off.appendChild(el("em", "", "Officer"));
    }
    var card = $("serving-card"), info = $("ticket-info");
    info.textContent = "";
    if (c.serving) {
      card.className = "card serving";
      $("ticket").textContent = c.serving.number;
      if (c.serving.priority) info.appendChild(el("span", "prio", "Ưu tiên"));
      var at = c.serving.called_at ? " · gọi lúc " + clock.timeText(new Date(c.serving.called_at), false) : "";
      info.appendChild(document.createTextNode(serviceName(c.serving.service) + at));
    } else {
      card.className = "card serving none";
      $("ticket").textContent = "—";
      info.appendChild(document.createTextNode("Chưa có công dân "));
      info.appendChild(el("em", "", "Nobody at the counter"));
    }
    renderNote(c.serving);
    renderCitizen(c.serving);
    renderQueue();
    renderKeys();
  }

  function renderCitizen(serving) {
    var box = $("citizen");
    var id = serving ? serving.id : null;
    if (id !== citizen.ticket) {
      citizen.ticket = id;
      citizen.name = null;
      if (id && signedIn) fetchCitizen(id);
    }
    box.textContent = "";
    box.hidden = !citizen.name;
    if (citizen.name) {
      box.appendChild(document.createTextNode("Công dân: " + citizen.name + " "));
      box.appendChild(el("em", "", "Citizen"));
    }
  }

  function fetchCitizen(id) {
    citizen.asked = id;
    O.fetchJSON(API + "/citizen", { cache: "no-store" }, 8000).then(function (r) {
      if (citizen.ticket !== id || !r.ok || !r.body || r.body.ticket !== id) return;
      citizen.name = r.body.name || null;
      renderCitizen(S.counter && S.counter.serving);
    }, function () {});
  }

  function renderQueue() {
    var services = (S.counter && S.counter.services) || ((counterConf() || {}).services) || [];
    var total = 0, parts = [];
    services.forEach(function (sid) {
      var s = S.services[sid];
      var n = s ? s.waiting : 0;
      total += n;
      parts.push(serviceName(sid) + ": " + n);
    });
    $("waiting").textContent = String(total);
    $("by-service").textContent = parts.join(" · ");
    var list = $("next");
    list.textContent = "";
    var next = (S.queue && S.queue.next) || [];
    next.forEach(function (t) {
      var li = el("li", t.priority ? "prio" : t.booked ? "booked" : "", t.number);
      li.title = serviceName(t.service);
      list.appendChild(li);
    });
    var rest = S.queue ? S.queue.waiting - next.length : 0;
    $("more").textContent = rest > 0 ? "còn " + rest + " số nữa · " + rest + " more" : "";
    if (!next.length) list.appendChild(el("li", "more", "Không có ai đang chờ · Nobody waiting"));
  }

  function renderKeys() {
    var c = S.counter || { status: "closed", serving: null };
    var open = c.status === "open", paused = c.status === "paused";
    var serving = !!c.serving;
    var offline = S.controller === false;
    var can = {
      call_next: open, call: open, recall: open && serving, skip: serving, finish: serving,
      transfer: serving, pause: open || paused, open: true, close: open || paused
    };
    var keys = $("keys").querySelectorAll("button[data-op]");
    for (var i = 0; i < keys.length; i++) {
      var b = keys[i], op = b.getAttribute("data-op");
      b.disabled = busy || offline || !can[op];
    }
    /* "Gọi tiếp" finishes the ticket being served: the key says so while someone is served. */
    var next = $("k-next");
    next.textContent = "";
    next.appendChild(document.createTextNode("Gọi tiếp "));
    next.appendChild(el("em", "", "Next"));
    if (serving) {
      var sub = el("span", "sub", "Kết thúc số " + c.serving.number + " rồi gọi số mới ");
      sub.appendChild(el("em", "", "Finishes " + c.serving.number + " first"));
      next.appendChild(sub);
    }
    var pause = $("k-pause");
    pause.textContent = "";
    if (paused) {
      pause.appendChild(document.createTextNode("Tiếp tục "));
      pause.appendChild(el("em", "", "Resume"));
      pause.className = "key resume";
    } else {
      pause.appendChild(document.createTextNode("Tạm dừng "));
      pause.appendChild(el("em", "", "Pause"));
      pause.className = "key";
    }
  }

  function fetchQueue() {
    return O.fetchJSON("/api/counters/" + encodeURIComponent(C) + "/queue?limit=8", {}, 8000).then(function (r) {
      if (r.ok && r.body) {
        S.queue = r.body;
        renderQueue();
      }
    });
  }

  function loadQueue() {
    if (queueTimer) return;
    queueTimer = setTimeout(function () {
      queueTimer = null;
      fetchQueue().then(null, function () {});
    }, 100);
  }

  /* -- commands -------------------------------------------------------------------------------- */
  function post(url, body, timeoutMs) {
    return O.fetchJSON(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }, timeoutMs);
  }

  function send(op, args, button) {
    if (busy) return;
    busy = true;
    if (button) button.className += " busy";
    renderKeys();
    say("info", "Đang gửi…", "Sending…");
    var body = { id: O.commandId(), args: args || {} };
    var before = S.counter && S.counter.serving ? S.counter.serving.number : null;
    var tries = 0;
    function attempt() {
      tries += 1;
      return post(API + "/" + op, body, 12000).then(function (r) {
        if (r.status === 504 && tries < 3) return attempt(); /* same id: never acts twice */
        return r;
      }, function (err) {
        if (tries < 3) return new Promise(function (ok) { setTimeout(ok, 800); }).then(attempt);
        throw err;
      });
    }
    attempt().then(function (r) {
      if (r.ok && r.body && r.body.ok) {
        applyResult(op, r.body.result, before);
        return;
      }
      var err = (r.body && r.body.error) || { code: "http_" + r.status };
      if (r.status === 401) showSignIn();
      var t = errorText(err);
      say("err", t[0], t[1]);
    }, function () {
      var t = errorText(null);
      say("err", t[0], t[1]);
    }).then(function () {
      busy = false;
      if (button) button.className = button.className.replace(" busy", "");
      renderKeys();
    });
  }

  function applyResult(op, result, before) {
    if (result && "status" in result && "counter" in result) { /* open, pause, resume, close */
      S.counter = result;
      var words = {
        open: ["Quầy đã mở", "The counter is open"], pause: ["Quầy tạm dừng", "Paused"],
        resume: ["Quầy làm việc tiếp", "Resumed"], close: ["Quầy đã đóng", "The counter is closed"]
      };
      var w = words[op] || ["Xong", "Done"];
      say("ok", w[0], w[1]);
    } else if (result && "ticket" in result) {
      var t = result.ticket;
      /* call_next finished the ticket that was served: say so, it is not silent. */
      var ended = op === "call_next" && before && (!t || t.number !== before) ? before : null;
      if (!t) {
        if (ended) say("info", "Đã xong số " + ended + ". Không còn ai đang chờ", "Finished " + ended + ". Nobody is waiting");
        else say("info", "Không còn ai đang chờ", "Nobody is waiting");
      } else {
        var extra = op === "transfer" ? " sang " + serviceName(t.service) : "";
        if (ended) {
          say("ok", "Đã xong số " + ended + " · Đã gọi số " + t.number, "Finished " + ended + ", called " + t.number);
        } else {
          say("ok", DONE[op] + " " + t.number + extra, DONE_EN[op] + " " + t.number);
        }
        if (S.counter) {
          S.counter.serving = t.status === "called" && t.counter === C ? t : null;
        }
      }
    }
    render();
    loadQueue();
  }

  /* -- dialogs ----------------------------------------------------------------------------------- */
  function dialog(title, fill) {
    $("dialog-title").textContent = title;
    var body = $("dialog-body");
    body.textContent = "";
    fill(body);
    $("dialog").hidden = false;
  }
  function closeDialog() {
    $("dialog").hidden = true;
  }
  function choice(vi, en, onPick, cls) {
    var b = el("button", "choice" + (cls ? " " + cls : ""), vi);
    b.type = "button";
    if (en) b.appendChild(el("em", "", en));
    b.addEventListener("click", function () { closeDialog(); onPick(); });
    return b;
  }

  function counterLabel(id) {
    var c = S.site && S.site.counters.filter(function (x) { return x.id === id; })[0];
    return (S.counters[id] && S.counters[id].label) || (c && c.label) || ("Quầy " + id);
  }

  /* Where each officer works now (open or paused counters): one officer, one counter. */
  function officerAt(officerId) {
    var ids = Object.keys(S.counters);
    for (var i = 0; i < ids.length; i++) {
      var st = S.counters[ids[i]];
      if (st && st.status !== "closed" && st.officer && st.officer.id === officerId) return ids[i];
    }
    return null;
  }

  function confirmDialog(title, lines, yes, onYes) {
    dialog(title, function (body) {
      lines.forEach(function (l) {
        var p = el("p", "hint full", l[0] + " ");
        if (l[1]) p.appendChild(el("em", "", l[1]));
        body.appendChild(p);
      });
      body.appendChild(choice(yes[0], yes[1], onYes, "confirm full"));
    });
  }

  function openDialog(button) {
    dialog("Mở quầy: chọn cán bộ · Open: who is at the counter?", function (body) {
      ((S.site && S.site.officers) || []).forEach(function (o) {
        var at = officerAt(o.id);
        var elsewhere = at !== null && at !== C;
        var sub = o.title || "";
        if (at === C) sub = "Đang ở quầy này · At this counter";
        else if (elsewhere) sub = "Đang ở " + counterLabel(at) + " · At " + counterLabel(at);
        body.appendChild(choice(o.name, sub, function () {
          if (!elsewhere) return send("open", { officer: o.id }, button);
          var other = counterLabel(at);
          confirmDialog("Chuyển cán bộ sang quầy này? · Move the officer here?", [
            [o.name + " đang làm việc ở " + other + ".", "This officer is working at " + other + "."],
            [other + " sẽ đóng" + (S.counters[at].serving ? " và số " + S.counters[at].serving.number +
              " đang phục vụ ở đó sẽ kết thúc." : "."),
             other + " will close" + (S.counters[at].serving ? " and finish the ticket served there." : ".")]
          ], ["Chuyển sang " + counterLabel(C), "Move here"], function () {
            send("open", { officer: o.id, move: true }, button);
          });
        }, elsewhere ? "elsewhere" : ""));
      });
    });
  }

  function transferDialog(button) {
    var c = S.counter || {};
    var here = c.serving ? c.serving.service : null;
    dialog("Chuyển số " + (c.serving ? c.serving.number : "") + " sang lĩnh vực · Transfer to", function (body) {
      var front = el("label", "front full");
      var box = document.createElement("input");
      box.type = "checkbox";
      front.appendChild(box);
      front.appendChild(document.createTextNode("Đưa lên đầu hàng chờ "));
      front.appendChild(el("em", "", "To the front of the line"));
      ((S.site && S.site.services) || []).forEach(function (s) {
        if (s.id === here) return;
        body.appendChild(choice(s.name, s.name_en || "", function () {
          var front = box.checked;
          var number = c.serving ? c.serving.number : "";
          confirmDialog("Chuyển số " + number + "? · Transfer " + number + "?", [
            ["Số " + number + " sẽ chờ lại ở lĩnh vực " + s.name + (front ? ", ở đầu hàng chờ." : ", ở cuối hàng chờ."),
             number + " will wait again in " + (s.name_en || s.name) + (front ? ", at the front." : ", at the end.")]
          ], ["Chuyển số " + number, "Transfer"], function () {
            send("transfer", { service: s.id, front: front }, button);
          });
        }));
      });
      body.appendChild(front);
    });
  }

  function callDialog(button) {
    dialog("Gọi số… · Call a number", function (body) {
      var row = el("div", "numrow full");
      var input = document.createElement("input");
      input.className = "number";
      input.id = "call-number";
      input.maxLength = 8;
      input.autocomplete = "off";
      input.placeholder = "A012";
      var go = el("button", "key primary small", "Gọi ");
      go.type = "button";
      go.appendChild(el("em", "", "Call"));
      function submit() {
        var n = input.value.replace(/\s+/g, "").toUpperCase();
        if (!n) return;
        closeDialog();
        send("call", { number: n }, button);
      }
      go.addEventListener("click", submit);
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") submit(); });
      row.appendChild(input);
      row.appendChild(go);
      body.appendChild(row);
      var picks = el("div", "full dialog-body");
      body.appendChild(picks);
      function fillSkipped() {
        picks.textContent = "";
        var skipped = (S.queue && S.queue.skipped) || [];
        if (!skipped.length) return;
        picks.appendChild(el("div", "hint full", "Số đã bỏ qua hôm nay · Skipped today:"));
        skipped.slice(0, 8).forEach(function (t) {
          picks.appendChild(choice(t.number, serviceName(t.service), function () {
            send("call", { number: t.number }, button);
          }));
        });
      }
      fillSkipped();
      fetchQueue().then(fillSkipped, function () {});
      setTimeout(function () { input.focus(); }, 0);
    });
  }

  function onKey(e) {
    var b = e.currentTarget, op = b.getAttribute("data-op");
    if (busy || b.disabled) return;
    if (op === "open") return openDialog(b);
    if (op === "transfer") return transferDialog(b);
    if (op === "call") return callDialog(b);
    if (op === "pause" && S.counter && S.counter.status === "paused") op = "resume";
    send(op, {}, b);
  }

  /* -- sign-in ----------------------------------------------------------------------------------- */
  function showSignIn() {
    signedIn = false;
    citizen.name = null; /* nothing personal stays on a signed-out screen */
    if ($("citizen")) { $("citizen").textContent = ""; $("citizen").hidden = true; }
    $("signin").hidden = false;
    $("pin").value = "";
    $("pin").focus();
  }

  function signIn(e) {
    e.preventDefault();
    var pin = $("pin").value.replace(/\D/g, "");
    if (!pin) return;
    var go = $("signin-go");
    go.disabled = true;
    post(API + "/session", { pin: pin }, 10000).then(function (r) {
      if (r.ok) {
        signedIn = true;
        citizen.ticket = undefined; /* ask again for the ticket served now */
        render();
        $("signin").hidden = true;
        $("signin-error").textContent = "";
        say("info", "Đã đăng nhập", "Signed in");
        return;
      }
      var err = (r.body && r.body.error) || {};
      var box = $("signin-error");
      if (err.code === "wrong_pin") {
        box.textContent = "Mã PIN không đúng (còn " + err.tries_left + " lần thử) · Wrong PIN (" +
          err.tries_left + " tries left)";
      } else if (err.code === "locked") {
        box.textContent = "Nhập sai quá nhiều lần: thử lại sau " + err.retry_after + " giây · Too many " +
          "wrong PINs: try again in " + err.retry_after + " s";
      } else {
        var t = errorText(err);
        box.textContent = t[0] + " · " + t[1];
      }
      $("pin").value = "";
    }, function () {
      var t = errorText(null);
      $("signin-error").textContent = t[0] + " · " + t[1];
    }).then(function () { go.disabled = false; });
  }

  function signOut() {
    O.fetchJSON(API + "/session", { method: "DELETE" }, 5000).then(showSignIn, showSignIn);
  }

  /* -- wiring ------------------------------------------------------------------------------------ */
  var keys = $("keys").querySelectorAll("button[data-op]");
  for (var i = 0; i < keys.length; i++) keys[i].addEventListener("click", onKey);
  $("dialog-cancel").addEventListener("click", closeDialog);
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("pinpad").addEventListener("click", function (e) {
    var d = e.target.getAttribute && e.target.getAttribute("data-d");
    if (!d) return;
    var p = $("pin");
    p.value = d === "del" ? p.value.slice(0, -1) : (p.value + d).slice(0, 6);
  });

  function tick() {
    $("clock").textContent = clock.timeText(null, false);
  }

  var live = new O.Live({
    site: function (site) {
      S.site = site;
      clock.sync(site);
      tick();
      render();
    },
    snapshot: function (snap) {
      S.counters = snap.counters || {};
      S.counter = S.counters[C] || null;
      S.services = snap.services || {};
      S.controller = snap.controller_online;
      $("ctl-banner").hidden = S.controller !== false;
      render();
      loadQueue();
    },
    state: function (msg) {
      if (msg.kind === "counter") S.counters[msg.key] = msg.data;
      if (msg.kind === "counter" && msg.key === C) {
        S.counter = msg.data;
        render();
        loadQueue();
      } else if (msg.kind === "service") {
        S.services[msg.key] = msg.data;
        renderQueue();
        var mine = (S.counter && S.counter.services) || ((counterConf() || {}).services) || [];
        if (mine.indexOf(msg.key) >= 0) loadQueue();
      } else if (msg.kind === "controller") {
        S.controller = msg.data.online;
        $("ctl-banner").hidden = S.controller !== false;
        renderKeys();
      }
    },
    connection: function (ok) {
      $("conn").hidden = ok;
    }
  });

  render();
  tick();
  setInterval(tick, 1000);
  O.fetchJSON(API + "/session", {}, 10000).then(function (r) {
    if (r.ok) {
      signedIn = true;
      citizen.ticket = undefined;
      render();
      $("signin").hidden = true;
    } else {
      showSignIn();
    }
  }, showSignIn);
  live.start();
})();
