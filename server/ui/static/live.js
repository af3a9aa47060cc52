// The run page, live: polls the run's progress record (JSON, on the session's
// cookie) and updates the progress bar and the fields marked data-field, until
// the run ends. Plain script, no inline code: the page's CSP allows none.
(function () {
  "use strict";
  var PERIOD_MS = 1500;
  var section = document.querySelector("[data-progress-url]");
  if (!section) {
    return;
  }
  var url = section.getAttribute("data-progress-url");
  var bar = section.querySelector("progress");

  function show(record) {
    if (bar) {
      bar.value = record.progress;
      bar.textContent = record.percent;
    }
    section.querySelectorAll("[data-field]").forEach(function (node) {
      var value = record[node.getAttribute("data-field")];
      node.textContent = value === null || value === "" ? "—" : String(value);
      if (node.classList.contains("status")) {
        node.className = "status " + record.status;
      }
    });
    if (record.ended || record.cancel_requested) {
      section.querySelectorAll("[data-hide-when-ended]").forEach(function (node) {
        node.hidden = true;
      });
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (reply) {
        if (!reply.ok) {
          throw new Error("progress: " + reply.status);
        }
        return reply.json();
      })
      .then(function (record) {
        show(record);
        if (!record.ended) {
          window.setTimeout(poll, PERIOD_MS);
        }
      })
      .catch(function () {
        // A lost connection or an ended session: try again, more slowly.
        window.setTimeout(poll, PERIOD_MS * 4);
      });
  }

  window.setTimeout(poll, PERIOD_MS);
})();
