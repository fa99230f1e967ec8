/* The printable reports' "Print" button (no inline script: the pages' CSP allows only files). */
"use strict";
document.getElementById("print").addEventListener("click", function () { window.print(); });
