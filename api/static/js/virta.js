// Small enhancements of the server-rendered pages; everything works without them.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to the error summary so that keyboard and screen-reader users hear it.
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
    }
    // A long action shows progress: the submit button says so and cannot be pressed twice.
    document.querySelectorAll("form[data-busy]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var button = event.submitter;
        if (!button || button.name === "_action") {
          return;
        }
        form.setAttribute("aria-busy", "true");
        button.textContent = form.getAttribute("data-busy");
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
})();
