/**
 * The dashboard's page: one HTML document with its style and script inline (the server allows
 * exactly these two by their hashes in its Content-Security-Policy). The script builds every
 * element with `createElement` and sets text with `textContent`: no value from the API or the
 * event stream is ever parsed as HTML.
 */
import { script } from "./script.js"

const style = `
:root { font: 14px/1.4 system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
body { margin: 0; }
header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #1d2330; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; }
header .live { font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; background: #555; }
header .live.on { background: #2f8f4e; }
header .spacer { flex: 1; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1rem; padding: 1rem; }
section { background: #fff; border-radius: 6px; padding: .8rem 1rem; box-shadow: 0 1px 2px #0002; min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1rem; margin: 0 0 .6rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e6e8ec; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.info { white-space: normal; max-width: 16rem; overflow-wrap: anywhere; }
td.id { font-family: ui-monospace, monospace; overflow: hidden; text-overflow: ellipsis; max-width: 18rem; }
tr.row { cursor: pointer; } tr.row:hover { background: #f0f4ff; }
.tabs { display: flex; flex-wrap: wrap; gap: .3rem; margin-bottom: .6rem; }
.tabs button.on { background: #1d2330; color: #fff; }
button { font: inherit; border: 1px solid #c8ccd4; background: #fff; border-radius: 4px; padding: .2rem .6rem; cursor: pointer; }
button:hover { border-color: #1d2330; } button.danger { color: #b3261e; }
button.link { border: 0; padding: 0; background: none; color: #2456c7; text-decoration: underline; }
input, select { font: inherit; padding: .2rem .4rem; border: 1px solid #c8ccd4; border-radius: 4px; }
.bar { display: flex; gap: .5rem; align-items: center; margin-bottom: .6rem; flex-wrap: wrap; }
pre { background: #f5f6f8; padding: .5rem; border-radius: 4px; overflow: auto; max-height: 16rem; margin: .2rem 0 .6rem; white-space: pre-wrap; word-break: break-word; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; margin: 0 0 .6rem; }
dt { color: #5b6272; } dd { margin: 0; word-break: break-all; }
.state { padding: 0 .4rem; border-radius: .6rem; background: #e6e8ec; font-size: .85em; }
.state.successful { background: #d4efdc; } .state.failed, .state.dead { background: #f7d9d6; }
.state.processing, .state.running { background: #dbe6fb; } .state.retrying { background: #fbeccb; }
.muted { color: #8a90a0; } .error { color: #b3261e; }
svg.spark { vertical-align: middle; }
ol.timeline { margin: 0; padding-left: 1.2rem; }
#notice { min-height: 1.2rem; }
`

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tasqueue</title>
<style>${style}</style>
</head>
<body>
<header>
  <h1>tasqueue</h1>
  <span id="live" class="live">connecting</span>
  <span class="spacer"></span>
  <span id="notice"></span>
  <button id="token" type="button">Token</button>
</header>
<main>
  <section class="wide">
    <h2>Queues</h2>
    <table id="queues">
      <thead><tr><th>queue</th><th class="num">waiting</th><th class="num">delayed</th><th class="num">retrying</th><th class="num">running</th><th class="num">dead</th><th>finished per minute</th><th class="num">succeeded</th><th class="num">failed</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="muted">All queues: <span id="total-successful">0</span> successful, <span id="total-failed">0</span> failed (kept results).</p>
  </section>
  <section>
    <h2>Jobs</h2>
    <div class="tabs" id="states"></div>
    <div class="bar">
      <label>queue <select id="queue"></select></label>
      <form id="search"><input id="search-id" placeholder="job id" aria-label="job id"> <button type="submit">Open</button></form>
      <form id="workflow-search"><input id="workflow-search-id" placeholder="workflow id" aria-label="workflow id"> <button type="submit">Open</button></form>
      <span class="spacer"></span>
      <span id="dead-actions" hidden><button id="requeue-all" type="button">Requeue all</button> <button id="purge-all" type="button" class="danger">Purge all</button></span>
    </div>
    <table id="jobs">
      <thead><tr><th>id</th><th>task</th><th>queue</th><th>state</th><th>at</th><th>info</th></tr></thead>
      <tbody></tbody>
    </table>
    <div class="bar"><button id="prev" type="button">Previous</button><span id="page" class="muted"></span><button id="next" type="button">Next</button></div>
  </section>
  <section id="detail">
    <h2>Job</h2>
    <p class="muted">Select a job or open a workflow.</p>
  </section>
</main>
<script>${script}</script>
</body>
</html>
`

export const page = { html, style, script }
