// The Kabuto dashboard: polls the venue's JSON endpoints (docs/dashboard.md) and draws them. No build step.
"use strict";

const POLL_MS = 1000;
let instruments = {};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c === null || c === undefined ? "" : c);
  return e;
}

function short(hex) { return hex ? hex.slice(0, 10) + "…" : ""; }

function timeOf(ns) { return new Date(Number(BigInt(ns) / 1000000n)).toISOString().slice(11, 23); }

function bandText(spec, m) {
  if (m.band) return `band ${m.band.lo ?? "-"} .. ${m.band.hi ?? "-"} (ref ${m.band.ref ?? "-"}, ${m.band.source ?? ""})`;
  if (spec && spec.band_pct) return `band ±${spec.band_pct}% of the reference`;
  return "no band";
}

function bookTable(levels, cls, title) {
  const body = el("tbody");
  for (const [px, qty] of levels) body.append(el("tr", {class: cls}, el("td", {}, px), el("td", {}, qty)));
  return el("table", {class: "levels " + cls}, el("thead", {}, el("tr", {}, el("th", {}, title), el("th", {}, "qty"))), body);
}

function card(m) {
  const spec = instruments[m.symbol] || {};
  const st = m.status ? m.status.status : "—";
  const c = el("article", {class: "card", id: "m-" + m.symbol, "data-symbol": m.symbol});
  c.append(el("h2", {}, m.symbol, el("span", {class: "status " + st}, st)));
  c.append(el("p", {class: "muted band"}, bandText(spec, m)));
  c.append(el("p", {class: "muted"}, `tick ${spec.tick_size ?? ""}, lot ${spec.lot_size ?? ""}, seq ${m.seq}` +
    (m.synced ? "" : " (syncing)")));
  c.append(el("div", {class: "book"}, bookTable(m.bids, "bid", "bid"), bookTable(m.asks, "ask", "ask")));
  const trades = el("tbody");
  for (const t of m.trades.slice(0, 8)) {
    const link = el("a", {href: "/api/proof/" + t.id, class: "verify", "data-fill": t.id}, "verify");
    trades.append(el("tr", {class: t.side === "buy" ? "bid" : "ask"}, el("td", {}, timeOf(t.ts)), el("td", {}, t.px),
      el("td", {}, t.qty), el("td", {}, link)));
  }
  c.append(el("table", {class: "trades"},
    el("thead", {}, el("tr", {}, el("th", {}, "trade"), el("th", {}, "px"), el("th", {}, "qty"), el("th", {}, "fill"))),
    trades));
  return c;
}

async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store"});
  const doc = await r.json();
  if (!r.ok) throw new Error(`${doc.error}: ${doc.message}`);
  return doc;
}

async function refreshMarkets() {
  const doc = await getJSON("/api/market");
  document.getElementById("markets").replaceChildren(...doc.markets.map(card));
  document.getElementById("clock").textContent = "venue time " + timeOf(doc.time) + " UTC";
}

async function refreshChain() {
  const doc = await getJSON("/api/chain");
  document.getElementById("chain-count").textContent = `(${doc.count})`;
  document.getElementById("chain-ledger").textContent = doc.ledger ? "ledger " + doc.ledger : "no ledger (serve --no-chain)";
  const rows = doc.batches.map(b => el("tr", {"data-batch": b.batch}, el("td", {}, b.batch),
    el("td", {}, `${b.first_seq}..${b.last_seq}`), el("td", {}, b.fill_count),
    el("td", {class: "hash"}, short(b.fills_root)), el("td", {class: "hash"}, short(b.hash))));
  document.querySelector("#batches tbody").replaceChildren(...rows);
}

async function verify(fill) {
  const box = document.getElementById("verify");
  const result = document.getElementById("verify-result");
  box.hidden = false;
  result.className = "";
  result.textContent = `checking fill ${fill}…`;
  document.getElementById("verify-doc").textContent = "";
  try {
    const doc = await getJSON("/api/proof/" + fill);
    result.className = doc.valid ? "valid" : "invalid";
    result.textContent = doc.valid
      ? `valid: fill ${fill} is in batch ${doc.proof.batch.batch}, checked against ${doc.checked_against}`
      : `invalid: ${doc.problems.join("; ")}`;
    document.getElementById("verify-doc").textContent = JSON.stringify(doc.proof, null, 1);
  } catch (e) {
    result.className = "invalid";
    result.textContent = e.message;
  }
}

async function tick() {
  try {
    await Promise.all([refreshMarkets(), refreshChain()]);
  } catch (e) {
    document.getElementById("clock").textContent = "venue unreachable: " + e.message;
  }
  setTimeout(tick, POLL_MS);
}

document.addEventListener("click", ev => {
  const a = ev.target.closest("a.verify");
  if (!a) return;
  ev.preventDefault();
  verify(a.dataset.fill);
});

getJSON("/api/instruments").then(doc => {
  for (const i of doc.instruments) instruments[i.symbol] = i;
}).finally(tick);
