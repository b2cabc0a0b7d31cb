// Live runs: the log grows as terraform writes it, and the summary (status,
// timeline, buttons) is fetched again whenever the run moves. No page reload.
(function () {
  "use strict";
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
