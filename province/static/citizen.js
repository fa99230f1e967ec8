/* A ticket's status page at the province (the QR code on the ticket, on a phone on 4G): number,
   service, people ahead and the estimate, the call, and the end; read every 10 s while visible.
   From here the citizen may ask for a Web Push notification, or a text message when the centre
   has a gateway. Nothing personal is shown; a phone number typed here is not kept by the page. */
"use strict";

(function () {
  function $(id) { return document.getElementById(id); }
  var token = decodeURIComponent(window.location.pathname.replace(/^\/t\//, "").replace(/\/+$/, ""));
  var api = "/api/v1/public/tickets/" + encodeURIComponent(token);
  var POLL_MS = 10000;
  var NBSP = "\u00a0";
  var T = null;
  var BADGE = {
    waiting: ["Đang chờ", "Waiting"],
    called: ["Đã được gọi", "Called"],
    done: ["Đã xong", "Done"],
    skipped: ["Đã bỏ qua", "Skipped"],
    expired: ["Hết hạn", "Expired"]
  };

  function setText(id, vi, en) {
    $(id).textContent = vi;
    if (en !== undefined) $(id + "-en").textContent = en;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function hhmm(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function duration(s) {
    var m = Math.max(1, Math.round(s / 60));
    if (m < 60) return { vi: m + " phút", en: m + (m === 1 ? " minute" : " minutes") };
    var h = Math.floor(m / 60), r = m % 60;
    return { vi: h + " giờ" + (r ? " " + r + " phút" : ""), en: h + " h" + (r ? " " + r + " min" : "") };
  }

  function render(t) {
    T = t;
    $("card").setAttribute("data-status", t.status);
    $("centre").textContent = t.site_name;
    $("number").textContent = t.number;
    setText("service", t.service_name + (t.priority ? " · Ưu tiên" : ""), t.service_name_en || "");
    var b = BADGE[t.status] || [t.status, ""];
    var badge = $("status");
    badge.textContent = b[0] + " ";
    var em = document.createElement("em");
    em.textContent = b[1];
    badge.appendChild(em);
    var counter = t.counter_label || "quầy";
    var counterEn = t.counter_label_en || "the counter";
    $("paper-hint").hidden = !(t.status === "waiting" || t.status === "called");
    if (t.status === "waiting") {
      setText("headline", "Trước bạn còn " + t.ahead + NBSP + "người",
              t.ahead === 1 ? "1 person ahead of you" : t.ahead + " people ahead of you");
      if (t.ahead === 0) {
        setText("detail", "Sắp đến lượt bạn, xin chú ý bảng gọi số.", "You are next: watch the board.");
      } else if (typeof t.est_wait_s === "number") {
        var d = duration(t.est_wait_s);
        setText("detail", "Thời gian chờ dự kiến: khoảng " + d.vi.replace(/ /g, NBSP), "Estimated wait: about " + d.en);
      } else {
        setText("detail", "", "");
      }
    } else if (t.status === "called") {
      setText("headline", "Mời số " + t.number + " đến " + counter.replace(/ /g, NBSP),
              t.number + ": please go to " + counterEn);
      setText("detail", "Số đã được gọi lúc " + hhmm(t.called_at) + ".", "Your number was called.");
    } else if (t.status === "done") {
      setText("headline", "Đã phục vụ xong", "Served");
      setText("detail", "Cảm ơn quý khách. Xin vui lòng đánh giá mức độ hài lòng tại quầy.",
              "Thank you. Please rate our service at the counter.");
    } else if (t.status === "skipped") {
      setText("headline", "Số của bạn đã bị bỏ qua", "Your number was skipped");
      setText("detail", "Số đã được gọi nhưng quý khách không có mặt. Xin liên hệ " + counter + " để được gọi lại.",
              "You were not there when called: ask at " + counterEn + " to be called again.");
    } else {
      setText("headline", "Phiếu đã hết hạn", "This ticket has expired");
      setText("detail", "Phiếu chỉ có giá trị trong ngày cấp. Xin lấy số mới tại máy lấy số.",
              "Tickets are valid on the day they are issued: please take a new one.");
    }
    var now = new Date();
    $("updated").textContent = "Cập nhật lúc " + pad(now.getHours()) + ":" + pad(now.getMinutes()) + " · Updated";
    document.title = t.number + " — " + b[0];
    renderNotify(t);
  }

  /* -- notifications -------------------------------------------------------------------------- */
  var pushOn = false, phoneOn = false;
  var pushable = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  function renderNotify(t) {
    var open = t.status === "waiting" || t.status === "skipped";
    $("notify").hidden = !open || (!pushable && !t.phone);
    $("notify-text").textContent = "";
    $("notify-text").appendChild(document.createTextNode(
      "Khi còn " + t.near + " người trước bạn, và khi được gọi số."));
    var em = document.createElement("em");
    em.textContent = "When " + t.near + (t.near === 1 ? " person is" : " people are") + " ahead of you, and when you are called.";
    $("notify-text").appendChild(em);
    $("push-btn").hidden = !pushable || pushOn;
    $("push-ok").hidden = !pushOn;
    $("push-no").hidden = pushable || !!t.phone;
    $("phone-form").hidden = !t.phone || phoneOn;
    $("phone-ok").hidden = !phoneOn;
  }

  function fail(vi, en) {
    var p = $("notify-err");
    p.textContent = vi + " ";
    var em = document.createElement("em");
    em.textContent = en;
    p.appendChild(em);
    p.hidden = false;
  }

  function b64bytes(s) {
    var raw = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function subscribe() {
    $("notify-err").hidden = true;
    $("push-btn").disabled = true;
    var reg;
    Notification.requestPermission().then(function (perm) {
      if (perm !== "granted") throw new Error("denied");
      return navigator.serviceWorker.register("/citizen/sw.js", { scope: "/t/" });
    }).then(function (r) {
      reg = r;
      return navigator.serviceWorker.ready;
    }).then(function () {
      return fetch("/api/v1/public/push-key").then(function (r) { return r.json(); });
    }).then(function (k) {
      return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64bytes(k.key) });
    }).then(function (sub) {
      return fetch(api + "/push", { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify(sub.toJSON()) });
    }).then(function (r) {
      if (!r.ok) throw new Error("refused");
      pushOn = true;
      try { window.localStorage.setItem("push:" + token, "1"); } catch (e) { /* private mode */ }
      renderNotify(T);
    }).catch(function (e) {
      if (e && e.message === "denied") fail("Bạn chưa cho phép thông báo.", "Notifications are not allowed.");
      else fail("Chưa bật được thông báo, xin thử lại.", "Could not turn notifications on: try again.");
    }).then(function () { $("push-btn").disabled = false; });
  }

  function sendPhone(ev) {
    ev.preventDefault();
    $("notify-err").hidden = true;
    var input = $("phone");
    fetch(api + "/phone", { method: "POST", headers: { "Content-Type": "application/json" },
                            body: JSON.stringify({ phone: input.value }) }).then(function (r) {
      if (r.status === 400) {
        fail("Số điện thoại không hợp lệ, ví dụ 0912 345 678.", "Not a valid phone number.");
        return;
      }
      if (!r.ok) throw new Error("refused");
      input.value = "";
      phoneOn = true;
      renderNotify(T);
    }).catch(function () { fail("Chưa gửi được, xin thử lại.", "Could not send: try again."); });
  }

  function refresh() {
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, 8000);
    fetch(api, { cache: "no-store", signal: ctl ? ctl.signal : undefined }).then(function (r) {
      clearTimeout(timer);
      $("conn").hidden = true;
      if (r.status === 404) { window.location.reload(); return null; }
      return r.ok ? r.json() : null;
    }).then(function (t) { if (t) render(t); }, function () { $("conn").hidden = false; });
  }

  $("push-btn").addEventListener("click", subscribe);
  $("phone-form").addEventListener("submit", sendPhone);
  try { pushOn = window.localStorage.getItem("push:" + token) === "1"; } catch (e) { pushOn = false; }
  refresh();
  setInterval(function () { if (!document.hidden) refresh(); }, POLL_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
