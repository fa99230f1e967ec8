// ReDoc on /redoc: names the drop-down lists ReDoc draws without one (the content type or example of a
// request or response), so that a screen reader says what they choose (axe-core: select-name).
(function () {
  "use strict";
  function name() {
    document.querySelectorAll("select:not([aria-label])").forEach(function (s) {
      var prev = s.closest("div") && s.closest("div").previousElementSibling;
      s.setAttribute("aria-label", (prev && prev.textContent.trim()) || "Content type");
    });
  }
  new MutationObserver(name).observe(document.documentElement, { childList: true, subtree: true });
})();
