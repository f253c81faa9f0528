/**
 * The dashboard page's script, plain browser JavaScript with no build step. It reads the API at
 * the page's own path (`<page>/api/...`), follows `<page>/events` (server-sent events) to refresh
 * what it shows, and builds all its DOM with `createElement` + `textContent`.
 */
export const script = String.raw`
"use strict";
(function () {
  var base = location.pathname.replace(/\/+$/, "");
  var STATES = ["waiting", "delayed", "retrying", "running", "dead", "successful", "failed"];
  var PAGE = 25;
  var view = { state: "waiting", queue: "tasqueue:tasks", offset: 0, total: 0, job: null, workflow: null, timeline: [] };
  var token = sessionStorage.getItem("tasqueue-token") || "";
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function time(ms) { return typeof ms === "number" ? new Date(ms).toLocaleString() : ""; }
  function json(value) { try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); } }
  function notice(text, isError) { var n = $("notice"); n.textContent = text; n.className = isError ? "error" : ""; }

  function api(method, path, body) {
    var headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET" && token) headers.authorization = "Bearer " + token;
    return fetch(base + "/api" + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" })
      .then(function (res) {
        return res.text().then(function (text) {
          var data = text ? JSON.parse(text) : undefined;
          if (!res.ok) {
            var err = new Error(res.status === 401 ? "not authorized: set a token" : (data && data.message) || res.statusText);
            err.status = res.status;
            throw err;
          }
          return data;
        });
      });
  }
  function act(method, path, body, done) {
    return api(method, path, body).then(function (r) { notice(done(r)); refresh(); }, function (e) { notice(e.message, true); });
  }

  // queues ----------------------------------------------------------------------------------
  function spark(values, failed) {
    var ns = "http://www.w3.org/2000/svg", w = 4 * values.length, h = 20;
    var max = Math.max.apply(null, values.map(function (v, i) { return v + failed[i]; }).concat([1]));
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("width", String(w)); svg.setAttribute("height", String(h));
    values.forEach(function (v, i) {
      [[v, "#2f8f4e", 0], [failed[i], "#b3261e", v]].forEach(function (part) {
        if (!part[0]) return;
        var r = document.createElementNS(ns, "rect"), height = part[0] / max * h, below = part[2] / max * h;
        r.setAttribute("x", String(i * 4)); r.setAttribute("width", "3");
        r.setAttribute("y", String(h - below - height)); r.setAttribute("height", String(height)); r.setAttribute("fill", part[1]);
        svg.appendChild(r);
      });
    });
    return svg;
  }
  function sum(xs) { return xs.reduce(function (a, b) { return a + b; }, 0); }

  function loadQueues() {
    return Promise.all([api("GET", "/counts"), api("GET", "/throughput")]).then(function (r) {
      var counts = r[0], rates = {};
      r[1].queues.forEach(function (q) { rates[q.queue] = q; });
      var body = clear($("queues").tBodies[0]);
      counts.queues.forEach(function (q) {
        var rate = rates[q.queue] || { succeeded: [], failed: [] };
        var cells = ["waiting", "delayed", "retrying", "running", "dead"].map(function (k) {
          return el("td", { className: "num", "data-col": k, text: q[k] === undefined ? "–" : String(q[k]) });
        });
        body.appendChild(el("tr", { className: "row", "data-queue": q.queue, onclick: function () { selectQueue(q.queue); } },
          [el("td", { text: q.queue })].concat(cells, [
            el("td", {}, [spark(rate.succeeded, rate.failed)]),
            el("td", { className: "num", "data-col": "succeeded", text: String(sum(rate.succeeded)) }),
            el("td", { className: "num", "data-col": "failed", text: String(sum(rate.failed)) })
          ])));
      });
      $("total-successful").textContent = String(counts.successful);
      $("total-failed").textContent = String(counts.failed);
      var select = $("queue"), names = counts.queues.map(function (q) { return q.queue; });
      if (names.indexOf(view.queue) < 0 && names.length) view.queue = names[0];
      clear(select);
      names.forEach(function (n) { select.appendChild(el("option", { value: n, text: n })); });
      select.value = view.queue;
    });
  }
  function selectQueue(name) { view.queue = name; view.offset = 0; $("queue").value = name; loadJobs(); }

  // jobs ------------------------------------------------------------------------------------
  function renderStates() {
    var tabs = clear($("states"));
    STATES.forEach(function (s) {
      tabs.appendChild(el("button", { type: "button", "data-state": s, className: s === view.state ? "on" : "",
        text: s, onclick: function () { view.state = s; view.offset = 0; renderStates(); loadJobs(); } }));
    });
    $("dead-actions").hidden = view.state !== "dead";
  }
  function loadJobs() {
    var q = "?state=" + encodeURIComponent(view.state) + "&queue=" + encodeURIComponent(view.queue) +
      "&offset=" + view.offset + "&limit=" + PAGE;
    return api("GET", "/jobs" + q).then(function (list) {
      view.total = list.total;
      var body = clear($("jobs").tBodies[0]);
      list.jobs.forEach(function (j) {
        var m = j.message, info = j.reason || (m && m.meta.prevErr) || "";
        body.appendChild(el("tr", { className: "row", "data-id": j.id, onclick: function () { openJob(j.id); } }, [
          el("td", { className: "id", text: j.id, title: j.id }),
          el("td", { text: m ? m.job.task : "?" }),
          el("td", { text: j.queue || "" }),
          el("td", {}, [el("span", { className: "state " + j.state, text: j.state })]),
          el("td", { text: time(j.at) }),
          el("td", { className: "muted info", text: info.length > 80 ? info.slice(0, 80) + "…" : info })
        ]));
      });
      if (!list.jobs.length) body.appendChild(el("tr", {}, [el("td", { colspan: "6", className: "muted", text: "none" })]));
      $("page").textContent = list.total ? (view.offset + 1) + "–" + (view.offset + list.jobs.length) + " of " + list.total : "0";
      $("prev").disabled = view.offset === 0;
      $("next").disabled = view.offset + PAGE >= list.total;
    }, function (e) { notice(e.message, true); });
  }

  // a job -----------------------------------------------------------------------------------
  function openJob(id) {
    if (!view.job || view.job !== id) view.timeline = [];
    view.job = id; view.workflow = null;
    return api("GET", "/jobs/" + encodeURIComponent(id)).then(renderJob, function (e) {
      var d = clear($("detail"));
      d.appendChild(el("h2", { text: "Job" }));
      d.appendChild(el("p", { className: "error", text: e.status === 404 ? "No job " + id : e.message }));
    });
  }
  function renderJob(detail) {
    var m = detail.message.meta, job = detail.message.job, d = clear($("detail"));
    d.appendChild(el("h2", {}, ["Job ", el("span", { className: "state " + m.status, id: "job-status", text: m.status })]));
    var facts = [["id", m.id], ["task", job.task], ["queue", m.queue],
      ["retries", m.retried + " of " + m.maxRetry],
      ["enqueued", time(m.enqueuedAt)], ["started", time(m.processedAt)], ["finished", time(m.finishedAt)]];
    if (m.schedule) facts.push(["schedule", m.schedule]);
    if (m.workflow) {
      var wf = m.workflow.id;
      facts.push(["workflow", el("span", {}, [
        el("button", { type: "button", className: "link", id: "job-workflow", text: wf, onclick: function () { openWorkflow(wf); } }),
        " / " + m.workflow.node
      ])]);
    }
    if (m.progress !== undefined) facts.push(["progress", json(m.progress)]);
    var dl = el("dl");
    facts.forEach(function (f) {
      dl.appendChild(el("dt", { text: f[0] }));
      dl.appendChild(typeof f[1] === "string" ? el("dd", { text: f[1] }) : el("dd", {}, [f[1]]));
    });
    d.appendChild(dl);
    var buttons = el("div", { className: "bar" }, [
      el("button", { type: "button", id: "retry", text: "Retry", onclick: function () {
        act("POST", "/jobs/" + encodeURIComponent(m.id) + "/retry", undefined, function (ok) { return ok ? "retrying " + m.id : m.id + " is not failed or cancelled"; });
      } }),
      el("button", { type: "button", id: "cancel", text: "Cancel", onclick: function () {
        act("POST", "/jobs/" + encodeURIComponent(m.id) + "/cancel", undefined, function (ok) { return ok ? "cancelled " + m.id : m.id + " is not waiting"; });
      } }),
      el("button", { type: "button", id: "delete", className: "danger", text: "Delete", onclick: function () {
        if (!confirm("Delete job " + m.id + "?")) return;
        act("DELETE", "/jobs/" + encodeURIComponent(m.id), undefined, function () { view.job = null; clear($("detail")).appendChild(el("p", { className: "muted", text: "Deleted." })); return "deleted " + m.id; });
      } })
    ]);
    d.appendChild(buttons);
    d.appendChild(el("h3", { text: "Payload" }));
    d.appendChild(el("pre", { id: "payload", text: json(job.payload) }));
    if (detail.result) {
      var text = detail.result.data;
      if (detail.result.encoding === "utf8") { try { text = json(JSON.parse(text)); } catch (e) { /* plain text */ } }
      else text = "base64: " + text;
      d.appendChild(el("h3", { text: "Result" }));
      d.appendChild(el("pre", { id: "result", text: text }));
    }
    if (m.lastError || m.prevErr) {
      d.appendChild(el("h3", { text: m.status === "successful" ? "Last error (an earlier run)" : "Error" }));
      d.appendChild(el("pre", { id: "error", className: "error", text: m.lastError ? json(m.lastError) : m.prevErr }));
    }
    d.appendChild(el("h3", { text: "Timeline" }));
    // the stored times of each run seen while the job is open (a retry overwrites them), and the
    // events the store does not keep (retries, progress)
    [["enqueued", m.enqueuedAt], ["started", m.processedAt], [m.status, m.finishedAt]].forEach(function (s) {
      if (typeof s[1] !== "number") return;
      var known = view.timeline.some(function (t) { return t.at === s[1] && t.text === s[0]; });
      if (!known) view.timeline.push({ at: s[1], text: s[0] });
    });
    var steps = view.timeline.slice().sort(function (a, b) { return a.at - b.at; });
    var ol = el("ol", { className: "timeline", id: "timeline" });
    steps.forEach(function (s) { ol.appendChild(el("li", {}, [el("span", { className: "muted", text: time(s.at) + " " }), s.text])); });
    d.appendChild(ol);
  }
  // a workflow ------------------------------------------------------------------------------
  function openWorkflow(id) {
    view.workflow = id; view.job = null; view.timeline = [];
    return api("GET", "/workflows/" + encodeURIComponent(id)).then(renderWorkflow, function (e) {
      var d = clear($("detail"));
      d.appendChild(el("h2", { text: "Workflow" }));
      d.appendChild(el("p", { className: "error", text: e.status === 404 ? "No workflow " + id : e.message }));
    });
  }
  function renderWorkflow(w) {
    var d = clear($("detail"));
    d.appendChild(el("h2", {}, ["Workflow ", el("span", { className: "state " + w.status, id: "workflow-status", text: w.status })]));
    var dl = el("dl");
    dl.appendChild(el("dt", { text: "id" })); dl.appendChild(el("dd", { text: w.id }));
    if (w.failedJob) {
      dl.appendChild(el("dt", { text: "failed job" }));
      dl.appendChild(el("dd", { id: "workflow-failed", className: "error", text: w.failedJob.id + " (" + w.failedJob.task + "): " + w.failedJob.error }));
    }
    d.appendChild(dl);
    var body = el("tbody");
    w.jobs.forEach(function (j) {
      var enqueued = j.status !== undefined;
      body.appendChild(el("tr", enqueued ? { className: "row", "data-id": j.id, onclick: function () { openJob(j.id); } } : {}, [
        el("td", { className: "id", text: j.id, title: j.id }),
        el("td", { text: j.task }),
        el("td", {}, [el("span", { className: "state " + (j.status || ""), text: j.status || "not enqueued" })])
      ]));
    });
    d.appendChild(el("table", { id: "workflow-jobs" }, [
      el("thead", {}, [el("tr", {}, [el("th", { text: "job" }), el("th", { text: "task" }), el("th", { text: "status" })])]),
      body
    ]));
  }

  function timelineText(e) {
    if (e._tag === "Retrying") return "attempt " + e.attempt + " failed, retry " + e.retry + " in " + e.delay + " ms: " + e.error;
    if (e._tag === "Progress") return "progress " + json(e.progress);
    return "dead-lettered: " + e.reason;
  }

  // live ------------------------------------------------------------------------------------
  var pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      loadQueues().then(loadJobs, function (e) { notice(e.message, true); });
      if (view.job) openJob(view.job);
      else if (view.workflow) openWorkflow(view.workflow);
    }, 300);
  }
  var poll = null;
  function live() {
    if (typeof EventSource === "undefined") return startPolling();
    var source = new EventSource(base + "/events");
    source.onopen = function () { $("live").textContent = "live"; $("live").className = "live on"; stopPolling(); };
    source.onerror = function () { $("live").textContent = "reconnecting"; $("live").className = "live"; startPolling(); };
    source.addEventListener("unavailable", function () { source.close(); $("live").textContent = "polling"; startPolling(); });
    source.onmessage = function (msg) {
      var e; try { e = JSON.parse(msg.data); } catch (x) { return; }
      if (view.job && e.id === view.job && /^(Retrying|Progress|DeadLettered)$/.test(e._tag)) view.timeline.push({ at: e.at, text: timelineText(e) });
      refresh();
    };
  }
  function startPolling() { if (!poll) poll = setInterval(refresh, 5000); }
  function stopPolling() { if (poll) { clearInterval(poll); poll = null; } }

  $("queue").addEventListener("change", function () { selectQueue($("queue").value); });
  $("prev").addEventListener("click", function () { view.offset = Math.max(0, view.offset - PAGE); loadJobs(); });
  $("next").addEventListener("click", function () { view.offset += PAGE; loadJobs(); });
  $("search").addEventListener("submit", function (ev) { ev.preventDefault(); var id = $("search-id").value.trim(); if (id) openJob(id); });
  $("workflow-search").addEventListener("submit", function (ev) { ev.preventDefault(); var id = $("workflow-search-id").value.trim(); if (id) openWorkflow(id); });
  $("requeue-all").addEventListener("click", function () {
    act("POST", "/dead/requeue", { queue: view.queue }, function (ids) { return "requeued " + ids.length; });
  });
  $("purge-all").addEventListener("click", function () {
    if (!confirm("Purge every dead letter of " + view.queue + "?")) return;
    act("POST", "/dead/purge", { queue: view.queue }, function (n) { return "purged " + n; });
  });
  $("token").addEventListener("click", function () {
    var t = prompt("Token sent with actions (Authorization: Bearer)", token);
    if (t === null) return;
    token = t; if (t) sessionStorage.setItem("tasqueue-token", t); else sessionStorage.removeItem("tasqueue-token");
  });

  renderStates();
  loadQueues().then(loadJobs, function (e) { notice(e.message, true); });
  live();
})();
`
