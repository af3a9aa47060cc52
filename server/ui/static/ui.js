// mendb review page: keyboard shortcuts. Plain JS, no dependencies, loaded from
// this origin only (the Content-Security-Policy allows no inline script).
//   j / k   next / previous proposal (a table's row, or the proposal page's links)
//   Enter   open the current row
//   a / r   accept / reject the current row, or the proposal on its own page
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr[data-proposal]"));
  }

  function current() {
    return document.querySelector("tr[data-proposal].current");
  }

  function select(row) {
    var was = current();
    if (was) { was.classList.remove("current"); }
    if (!row) { return; }
    row.classList.add("current");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (all.length === 0) {
      var link = document.querySelector('a[data-key="' + (step > 0 ? "j" : "k") + '"]');
      if (link) { window.location.assign(link.getAttribute("href")); }
      return;
    }
    var at = all.indexOf(current());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1)
                      : Math.min(all.length - 1, Math.max(0, at + step));
    select(all[next]);
  }

  function press(key) {
    var scope = current() || (rows().length === 0 ? document : null);
    if (!scope) { return; }
    var button = scope.querySelector('button[data-key="' + key + '"]:not([disabled])');
    if (button) { button.click(); }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var tag = target && target.tagName;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || target.isContentEditable) {
      return;
    }
    if (event.key === "j") { move(1); }
    else if (event.key === "k") { move(-1); }
    else if (event.key === "a" || event.key === "r") { press(event.key); }
    else if (event.key === "Enter" && current()) {
      window.location.assign(current().getAttribute("data-href"));
    } else { return; }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("tr[data-proposal]");
    if (row) { select(row); }
  });
})();
