/* The ticket page's service worker: shows the province's Web Push notifications ("near", "called")
   and opens the ticket's page when one is tapped. It caches nothing. */
"use strict";

self.addEventListener("push", function (event) {
  var msg = {};
  try { msg = event.data ? event.data.json() : {}; } catch (e) { msg = {}; }
  var title = msg.title || "Phiếu số thứ tự";
  event.waitUntil(self.registration.showNotification(title, {
    body: msg.body || "",
    tag: msg.tag || "onestop",
    renotify: true,
    requireInteraction: msg.kind === "called",
    icon: "/citizen/icon.svg",
    data: { url: msg.url || "/" },
    lang: "vi"
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url.indexOf(url) !== -1 && "focus" in list[i]) return list[i].focus();
    }
    return self.clients.openWindow(url);
  }));
});
