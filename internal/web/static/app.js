// Live runs: the log grows as terraform writes it, and the summary (status,
// timeline, buttons) is fetched again whenever the run moves. No page reload.
(function () {
  "use strict";
  // A part of a page that refreshes itself: data-refresh names the URL of
  // its HTML, data-every how often (ms).
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    setInterval(function () {
      fetch(el.dataset.refresh, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { el.innerHTML = html; })
        .catch(function () {});
    }, Number(el.dataset.every) || 5000);
  });
  var run = document.getElementById("run");
  if (!run || !run.dataset.stream || !window.EventSource) {
    return;
  }
  var source = new EventSource(run.dataset.stream);
  source.addEventListener("log", function (e) {
    var msg = JSON.parse(e.data);
    var pre = document.getElementById("log-" + msg.phase);
    if (pre) {
      pre.insertAdjacentHTML("beforeend", msg.html); // rendered and escaped by the server
      pre.scrollTop = pre.scrollHeight;
    }
  });
  var refresh = function () {
    fetch(run.dataset.summary, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { run.innerHTML = html; })
      .catch(function () {});
  };
  source.addEventListener("status", refresh);
  source.addEventListener("end", function () {
    source.close();
    refresh();
  });
})();
