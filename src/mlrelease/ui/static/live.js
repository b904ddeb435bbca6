// Live refresh, where a page asks for it with <main data-live="SECONDS">: fetch the page
// again and swap its <main> in place. Without JavaScript the page still works; it just
// needs a reload. Polling stops while the tab is hidden and once the page stops asking.
(function () {
  "use strict";
  function schedule() {
    var main = document.querySelector("main[data-live]");
    if (!main) return;
    var seconds = Math.max(parseInt(main.getAttribute("data-live"), 10) || 5, 1);
    window.setTimeout(refresh, seconds * 1000);
  }
  function refresh() {
    if (document.hidden || isEditing()) { schedule(); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("stop");
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        var current = document.querySelector("main");
        if (fresh && current) current.replaceWith(fresh);
        schedule();
      })
      .catch(function () { /* logged out or server gone: leave the page as it is */ });
  }
  function isEditing() {
    var active = document.activeElement;
    return active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA" || active.tagName === "SELECT");
  }
  document.addEventListener("DOMContentLoaded", schedule);
})();
