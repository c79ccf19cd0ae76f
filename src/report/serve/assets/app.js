// matrix serve: the behaviour of the server-rendered pages. No framework,
// no external script. Pages read complete without it.
"use strict";

// Reproduce boxes: the commands of a cell are fetched when the box opens.
function wireReproduce(root) {
  root.querySelectorAll("details.repro").forEach(function (d) {
    if (d.dataset.wired) return;
    d.dataset.wired = "1";
    d.addEventListener("toggle", function () {
      if (!d.open || d.dataset.loaded) return;
      d.dataset.loaded = "1";
      var pre = d.querySelector("pre");
      fetch(d.dataset.src)
        .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
        .then(function (res) {
          var j = res[1];
          if (!res[0]) { pre.textContent = j.error || "not available"; return; }
          var lines = [];
          if (j.matrix_run) { lines.push("# the run", j.matrix_run, ""); }
          lines.push("# this cell's lines of commands.sh");
          if (j.commands.length === 0) lines.push("# (none recorded)");
          j.commands.forEach(function (c) { lines.push(c); });
          pre.textContent = lines.join("\n");
        })
        .catch(function (e) { pre.textContent = "cannot load: " + e; });
    });
  });
}

function cell(tr, text) {
  var td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

function reproduceBox(runId, cellId) {
  var d = document.createElement("details");
  d.className = "repro";
  d.dataset.src = "/api/runs/" + encodeURIComponent(runId) + "/reproduce?cell=" + encodeURIComponent(cellId);
  var s = document.createElement("summary");
  s.textContent = "reproduce";
  var pre = document.createElement("pre");
  pre.className = "repro-text";
  pre.textContent = "loading…";
  d.appendChild(s);
  d.appendChild(pre);
  return d;
}

// Rebuild the results table from /api/runs/<id>/cells.
function render(table, data) {
  var thead = table.tHead, tbody = table.tBodies[0];
  var hr = document.createElement("tr");
  hr.appendChild(document.createElement("th"));
  data.columns.forEach(function (c) {
    var th = document.createElement("th");
    th.textContent = c;
    hr.appendChild(th);
  });
  thead.replaceChildren(hr);
  var rows = data.cells.map(function (c) {
    var tr = document.createElement("tr");
    tr.id = "cell-" + c.cell_id;
    tr.dataset.cell = c.cell_id;
    tr.className = "status-" + c.status;
    var td = document.createElement("td");
    td.appendChild(reproduceBox(data.run_id, c.cell_id));
    tr.appendChild(td);
    data.columns.forEach(function (col) {
      if (col === "log") {
        var t = cell(tr, "");
        if (c.log) {
          var a = document.createElement("a");
          a.href = "/files/" + c.log.split("/").map(encodeURIComponent).join("/");
          a.textContent = "log";
          t.appendChild(a);
        }
      } else {
        cell(tr, c.row[col] === undefined ? "" : c.row[col]);
      }
    });
    return tr;
  });
  tbody.replaceChildren.apply(tbody, rows);
  table.dataset.count = String(data.cells.length);
  var n = document.getElementById("cell-count");
  if (n) n.textContent = String(data.cells.length);
  wireReproduce(table);
}

// A run in progress: poll its cells every 2 s until it has finished.
function poll(table) {
  var url = "/api/runs/" + encodeURIComponent(table.dataset.run) + "/cells";
  function tick() {
    fetch(url)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(tick, 2000);
        if (String(data.cells.length) !== table.dataset.count) {
          // A run shown a page at a time: read the page again.
          if (table.dataset.paged === "1") return location.reload();
          render(table, data);
        }
        if (data.finished_at) {
          table.dataset.live = "0";
          document.querySelectorAll(".badge.live").forEach(function (b) {
            b.className = "badge done";
            b.textContent = "finished";
          });
        } else {
          setTimeout(tick, 2000);
        }
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
}

// Plots: each section's charts (inline SVG, drawn on the server) are
// fetched after the page renders.
function loadPlots(section) {
  var body = section.querySelector(".plots-body");
  fetch(section.dataset.src)
    .then(function (r) { return r.text().then(function (t) { return [r.ok, t]; }); })
    .then(function (res) {
      if (res[0]) {
        body.innerHTML = res[1];
      } else {
        body.textContent = "cannot draw the charts (HTTP error)";
      }
      section.dataset.loaded = "1";
    })
    .catch(function (e) {
      body.textContent = "cannot load the charts: " + e;
      section.dataset.loaded = "1";
    });
}

document.addEventListener("DOMContentLoaded", function () {
  wireReproduce(document);
  document.querySelectorAll("section.plots[data-src]").forEach(loadPlots);
  var t = document.getElementById("cells");
  if (t && t.dataset.live === "1") poll(t);
});
