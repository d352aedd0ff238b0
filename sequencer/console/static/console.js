// The sharedseq console: renders each picture the server streams on /api/events (server-sent events).
// Read-only; no framework, no build step. Every number shown comes from the picture as sent.
"use strict";

const $ = (id) => document.getElementById(id);
const seenBundles = new Set();
let firstPicture = true;

// Quantiles come from histogram buckets: the value shown is the bucket's upper bound, hence "≤".
function ms(seconds) {
  if (seconds === null || seconds === undefined) return "no traffic yet";
  const v = seconds * 1000;
  return "≤ " + (v < 1 ? v.toFixed(1) + " ms" : v < 1000 ? v.toFixed(0) + " ms" : (v / 1000).toFixed(1) + " s");
}
function num(v, digits = 0) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }
function short(hex) { return hex.length > 14 ? hex.slice(0, 10) + "\u2026" + hex.slice(-4) : hex; }
function age(nowMs, tMs) {
  const s = Math.max(0, (nowMs - tMs) / 1000);
  return s < 60 ? s.toFixed(1) + " s ago" : Math.floor(s / 60) + " min ago";
}
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => { const tr = document.createElement("tr"); tr.append(...cells); return tr; }));
}
function show(id, visible) { $(id).classList.toggle("hidden", !visible); }

function render(p) {
  const s = p.shared;
  $("height").textContent = s.height;
  $("firm").textContent = s.firm_height >= 0 ? s.firm_height : "none yet";
  $("lag").textContent = s.firm_lag === null ? "-" : s.firm_lag + " blocks";
  $("role").textContent = p.replication ? (p.replication.leader ? "replica set, leader " + p.replication.leader
    : "replica set, no leader (failover)") : s.leading ? "leader" : "follower" + (s.leader ? " of " + s.leader : "");
  $("slot").textContent = p.slot.slot_ms + " ms";
  $("interval").textContent = p.slot.mean_interval_ms === null ? "-" : num(p.slot.mean_interval_ms, 0) + " ms";
  $("seal").textContent = ms(p.slot.seal_p99_s);
  $("tps").textContent = p.tx_per_s === null ? "-" : num(p.tx_per_s, 1) + " tx/s";
  $("pending").textContent = s.pending_txs;
  $("bundles-total").textContent = p.bundles_total;
  $("p50").textContent = p.latency.p50_s === null ? "no traffic yet" : "p50 " + ms(p.latency.p50_s);
  $("p50").classList.toggle("quiet", p.latency.p50_s === null);
  $("p99").textContent = ms(p.latency.p99_s);
  $("latcount").textContent = num(p.latency.count);
  $("latwin").textContent = p.latency.window_s;
  $("updated").textContent = new Date(p.now_ms).toLocaleTimeString();

  // Columns only for what this console knows: rollup node heads and forced queues come from the
  // devnet's sources; a lone `sharedseq serve` has neither.
  const forced = p.forced;
  const rows = Object.values(p.rollups);
  const nodes = rows.some((r) => r.soft_block !== undefined);
  const head = [["rollup", ""], ["format", ""]];
  if (nodes) head.push(["soft block", "num"], ["firm block", "num"]);
  head.push(["last data at", "num"], ["admitted", "num"], ["tx/s", "num"]);
  if (forced) head.push(["forced queue", "num"]);
  const thead = $("rollups").tHead.rows[0];
  thead.replaceChildren(...head.map(([t, c]) => { const th = document.createElement("th"); th.textContent = t; th.className = c; return th; }));
  fill($("rollups").tBodies[0], rows.map((r) => {
    const c = [cell(r.name + " (" + r.id + ")"), cell(r.format || "-")];
    if (nodes) c.push(cell(num(r.soft_block), "num"), cell(num(r.firm_block), "num"));
    c.push(cell(r.last_data_height === null || r.last_data_height === undefined ? "-" : "#" + r.last_data_height, "num"),
      cell(num(r.admitted), "num"), cell(r.tx_per_s === null ? "-" : num(r.tx_per_s, 1), "num"));
    if (forced) {
      const f = forced[String(r.id)];
      c.push(cell(!f || f.depth === 0 ? "0" : f.depth + " (deadline L1 #" + f.deadline_l1_block + ")", "num"));
    }
    return c;
  }));

  const buckets = p.latency.buckets;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const hist = $("histogram");
  hist.replaceChildren(...buckets.map((b) => {
    const bar = document.createElement("div"); bar.className = "bar";
    const count = document.createElement("div"); count.className = "count"; count.textContent = b.count ? num(b.count) : "";
    const f = document.createElement("div"); f.className = "fill"; f.style.height = (100 * b.count / max * 0.8) + "%";
    const le = document.createElement("div"); le.className = "le";
    le.textContent = b.le === null ? "more" : "\u2264" + (b.le * 1000 >= 1 ? num(b.le * 1000) : (b.le * 1000).toFixed(1)) + "ms";
    bar.append(count, f, le); return bar;
  }));
  show("histogram", p.latency.count > 0); show("hist-empty", p.latency.count === 0);

  fill($("blocks").tBodies[0], p.blocks.map((b) => [cell("#" + b.height, "num"), cell(age(p.now_ms, b.timestamp_ms)),
    cell(b.tx_count, "num"), cell(Object.entries(b.txs).map(([k, v]) => k + ":" + v).join("  ")), cell(b.bundles, "num")]));
  show("blocks-empty", p.blocks.length === 0);

  // A bundle's outcome: inclusion is atomic (every leg in this block); what the legs did on the
  // rollups comes from the margin view when the devnet has one (its txs map, by leg tx hash).
  const mtx = (p.margin && p.margin.txs) || {};
  const outcomes = p.bundles.map((b) => {
    const info = b.legs.map((l) => mtx[l.tx]).find((x) => x);
    if (!info) return { text: "included", value: "included" };
    if (info.role === "outcome") return { text: "outcome for " + info.kind + " " + short(info.bundle_id) + ": " + info.outcome, value: "outcome-" + info.outcome };
    return { text: info.kind + " " + info.outcome, value: info.outcome };
  });
  fill($("bundles").tBodies[0], p.bundles.map((b, i) => [cell("#" + b.height, "num"), cell(short(b.bundle_hash), "mono"),
    cell(b.legs.map((l) => l.rollup + ":" + l.index).join("  "), "mono"), cell(outcomes[i].text, "status-" + outcomes[i].value)]));
  [...$("bundles").tBodies[0].rows].forEach((tr, i) => {
    const h = p.bundles[i].bundle_hash;
    tr.dataset.bundle = h;
    tr.dataset.outcome = outcomes[i].value;
    if (!seenBundles.has(h)) { seenBundles.add(h); if (!firstPicture) tr.classList.add("fresh"); }
  });
  show("bundles-empty", p.bundles.length === 0);

  renderMargin(p.margin);
  renderReplication(p.replication);

  const b = p.batcher;
  if (b) {
    $("batcher-info").textContent = b.windows_posted + " windows posted by " + short(b.address) + ", firm through #" + b.firm_height;
    fill($("postings").tBodies[0], b.postings.map((w) => [cell(w.window, "num"), cell("#" + w.first_height + "\u2013#" + w.last_height),
      cell("block " + w.l1_block), cell(w.status, "status-" + w.status), cell(short(w.tx_hash), "mono")]));
    $("postings-empty").textContent = "no window posted yet";
    show("postings-empty", b.postings.length === 0);
  } else {
    $("batcher-info").textContent = "";
    show("postings-empty", true);
  }
  firstPicture = false;
  document.body.dataset.version = p.version;
}

function position(x) {
  const what = x.call === undefined ? "" : (x.call ? " call " : " put ") + num(x.strike);
  return (x.size > 0 ? "+" : "") + num(x.size, 2) + what + " @ " + num(x.entry) + " (" + x.state + ", margin " + num(x.margin, 1) +
    ", PnL " + num(x.pnl, 1) + ")";
}

// The devnet's margin use case: per account, free margin on the margin rollup and the positions on
// each venue rollup; the latest margin bundles with every leg's status and the outcome.
function renderMargin(m) {
  show("margin-panel", !!m);
  if (!m) return;
  const r = m.rollups;
  $("margin-prices").textContent = "price " + Object.entries(m.prices).map(([k, v]) => k + ": " + num(v, 2)).join("  ");
  const head = ["account", "collateral (" + r.margin + ")", "reserved (" + r.margin + ")", "free margin (" + r.margin + ")",
    "perps (" + r.perp + ")", "options (" + r.option + ")"];
  $("margin-accounts").tHead.rows[0].replaceChildren(...head.map((t, i) => { const th = document.createElement("th"); th.textContent = t; if (i > 0 && i < 4) th.className = "num"; return th; }));
  fill($("margin-accounts").tBodies[0], m.accounts.map((a) => {
    const mr = a.rollups[String(r.margin)], pr = a.rollups[String(r.perp)], or = a.rollups[String(r.option)];
    return [cell(a.name + " " + short(a.address), "mono"), cell(num(mr.collateral, 2), "num"), cell(num(mr.reserved, 2), "num"),
      cell(num(mr.free, 2), "num"), cell(pr.positions.map(position).join("; ") || "-"), cell(or.positions.map(position).join("; ") || "-")];
  }));
  [...$("margin-accounts").tBodies[0].rows].forEach((tr, i) => { tr.dataset.account = m.accounts[i].address; tr.dataset.name = m.accounts[i].name; });
  fill($("margin-bundles").tBodies[0], m.bundles.map((b) => [cell(short(b.bundle_id), "mono"), cell(b.kind),
    cell(b.legs.map((l) => l.rollup + " " + l.leg + ": " + l.status).join("  ")), cell(b.outcome, "status-" + b.outcome)]));
  [...$("margin-bundles").tBodies[0].rows].forEach((tr, i) => { tr.dataset.marginBundle = m.bundles[i].bundle_id; tr.dataset.outcome = m.bundles[i].outcome; });
  show("margin-bundles-empty", m.bundles.length === 0);
}

// A replica set (devnet --replicas): who leads, the lease it holds, and each replica's height and
// log lag as its own metrics say; a replica whose metrics did not answer is shown as such.
function renderReplication(r) {
  show("replication-panel", !!r);
  if (!r) return;
  $("repl-leader").textContent = r.leader ? r.leader + " (pid " + r.leader_pid + ")" : "none (failover under way)";
  $("repl-lease").textContent = r.lease ? num(r.lease.remaining_s, 2) + " s left, revision " + r.lease.revision : "-";
  if (r.claimants.length > 1) $("repl-lease").textContent += " · " + r.claimants.length + " replicas claim to lead";
  fill($("replicas").tBodies[0], r.replicas.map((x) => [cell(x.address, "mono"), cell(num(x.pid), "num"),
    cell(!x.up ? "not answering" : x.address === r.leader ? "leader" : x.leading ? "claims to lead" : "follower of " + (x.follows || "nobody yet")),
    cell(num(x.height), "num"), cell(num(x.lag_entries), "num"), cell(x.leading && x.up ? num(x.lease_remaining_s, 2) + " s" : "-", "num")]));
  [...$("replicas").tBodies[0].rows].forEach((tr, i) => {
    tr.dataset.replica = r.replicas[i].address;
    tr.dataset.role = !r.replicas[i].up ? "down" : r.replicas[i].address === r.leader ? "leader" : "follower";
  });
}

function connect() {
  const es = new EventSource("/api/events");
  es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "pill on"; };
  es.onmessage = (ev) => render(JSON.parse(ev.data));
  es.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = "pill off"; };
}
connect();
