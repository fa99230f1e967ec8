/* A ticket's status page: number, service, status, people ahead and the estimate, updated live.
   It re-reads the ticket's public status when the live stream says its service or a counter serving
   it changed, and once a minute anyway. */
"use strict";

(function () {
  var O = Onestop, $ = O.$;
  /* the ticket's link token (not its id: ids are sequential, tokens cannot be guessed) */
  var token = decodeURIComponent(window.location.pathname.replace(/^\/t\//, "").replace(/\/+$/, ""));
  var clock = new O.Clock();
  var T = null;
  var timer = null;
  var retries = 0;
  var wanted = 0; /* the newest event seq a state message has mentioned */
  var POLL_MS = 60000;
  var NBSP = "\u00a0"; /* "1 người", "8 phút", "Quầy 1" never break across lines */

  var BADGE = {
    waiting: ["Đang chờ", "Waiting"],
    called: ["Đã được gọi", "Called"],
    done: ["Đã xong", "Done"],
    skipped: ["Đã bỏ qua", "Skipped"],
    expired: ["Hết hạn", "Expired"]
  };

  function setText(elId, vi, en) {
    $(elId).textContent = vi;
    if (en !== undefined) $(elId + "-en").textContent = en;
  }

  function render(t) {
    T = t;
    $("card").setAttribute("data-status", t.status);
    $("agency").textContent = t.agency;
    $("centre").textContent = t.site_name;
    $("number").textContent = t.number;
    setText("service", t.service_name + (t.priority ? " · Ưu tiên" : ""), t.service_name_en || "");
    var b = BADGE[t.status] || [t.status, ""];
    var badge = $("status");
    badge.textContent = b[0] + " ";
    badge.appendChild(O.el("em", "", b[1]));
    var counter = t.counter_label || ("Quầy " + t.counter);
    var counterEn = t.counter_label_en || ("Counter " + t.counter);
    /* the paper ticket matters only until the citizen is served */
    $("paper-hint").hidden = !(t.status === "waiting" || t.status === "called");
    if (t.status === "waiting") {
      setText("headline", "Trước bạn còn " + t.ahead + NBSP + "người",
              t.ahead === 1 ? "1 person ahead of you" : t.ahead + " people ahead of you");
      if (t.ahead === 0) {
        setText("detail", "Sắp đến lượt bạn, xin chú ý bảng gọi số.", "You are next: watch the board.");
      } else if (typeof t.est_wait_s === "number") {
        var d = O.duration(t.est_wait_s);
        setText("detail", "Thời gian chờ dự kiến: khoảng " + d.vi.replace(/ /g, NBSP), "Estimated wait: about " + d.en);
      } else {
        setText("detail", "", "");
      }
    } else if (t.status === "called") {
      setText("headline", "Mời đến " + counter.replace(/ /g, NBSP), "Please go to " + counterEn);
      setText("detail", "Số " + t.number + " đã được gọi lúc " + clock.timeText(new Date(t.called_at), false) + ".",
              "Your number was called.");
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
    $("updated").textContent = "Cập nhật lúc " + clock.timeText() + " · Updated";
    document.title = t.number + " — " + b[0];
  }

  function refresh() {
    O.fetchJSON("/api/tickets/" + encodeURIComponent(token) + "/status", {}, 8000).then(function (r) {
      if (r.ok && r.body) {
        render(r.body);
        /* The controller publishes states just before the events: wait for the hub to catch up. */
        if (r.body.seq < wanted && retries < 40) {
          retries += 1;
          setTimeout(refresh, 250);
        } else {
          retries = 0;
        }
      }
      else if (r.status === 404) window.location.reload(); /* the server shows "not found" */
    }, function () { /* the stream's reconnect asks again */ });
  }

  function soon() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }

  function concerns(msg) {
    if (!T) return true;
    if (msg.kind === "service") return msg.key === T.service;
    if (msg.kind === "counter") {
      var serving = msg.data && msg.data.serving;
      return (serving && serving.id === T.id) || (T.status === "called" && msg.key === T.counter);
    }
    return false;
  }

  new O.Live({
    site: function (site) { clock.sync(site); },
    snapshot: function () { refresh(); },
    state: function (msg) {
      if (!concerns(msg)) return;
      if (msg.data && typeof msg.data.seq === "number" && msg.data.seq > wanted) wanted = msg.data.seq;
      soon();
    },
    connection: function (ok) { $("conn").hidden = ok; }
  }).start();
  setInterval(refresh, POLL_MS);
})();
