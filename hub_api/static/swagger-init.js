// Starts Swagger UI on /docs (a file, not an inline script: the hub's CSP allows scripts from files only).
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    // No deep links: Swagger UI puts each one as a link inside the operation's button (a control in a
    // control, which screen readers and keyboards cannot use; axe-core: nested-interactive).
    deepLinking: false,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
  });
})();
