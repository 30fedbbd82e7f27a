// The match-centre page: reads the service's own API (the page is served at /ui/, the API one
// level up) and renders with textContent only, so no team name can inject markup.
"use strict";

const API = (path) => new URL(`../${path}`, window.location.href);
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

const state = { models: {} };
// days after the model's last result beyond which a forecast is flagged stale (about a season break)
const STALE_DAYS = 120;

// displayed precision: the tests compare these with the API's numbers
const percent = (p) => `${(100 * p).toFixed(1)}%`;
const odds = (x) => x.toFixed(2);
const signedPercent = (e) => `${e >= 0 ? "+" : ""}${(100 * e).toFixed(1)}%`;
const goals = (x) => x.toFixed(2);
const points = (x) => x.toFixed(1);

class ApiError extends Error {}

// requests in flight, on <body data-pending>: 0 once everything shown is loaded
let pending = 0;
function track(change) {
  pending += change;
  document.body.dataset.pending = String(pending);
}

async function call(path, options = {}) {
  track(+1);
  try {
    return await fetchJson(path, options);
  } finally {
    track(-1);
  }
}

async function fetchJson(path, options) {
  let answer;
  try {
    answer = await fetch(API(path), options);
  } catch (error) {
    throw new ApiError(`the service did not answer (${error.message})`);
  }
  const text = await answer.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: shown as text */ }
  if (!answer.ok) throw new ApiError(errorMessage(answer.status, body, text));
  return body;
}

function errorMessage(status, body, text) {
  if (body && typeof body === "object") {
    const lines = [body.error || body.detail?.toString?.() || `HTTP ${status}`];
    if (Array.isArray(body.detail)) {
      for (const item of body.detail) {
        const where = Array.isArray(item.loc) ? item.loc.join(".") : "";
        // a message the headline already says (the same team twice) is not repeated
        if (item.msg && !lines[0].includes(item.msg)) lines.push(where ? `${where}: ${item.msg}` : item.msg);
      }
    }
    return `${status}: ${lines.join("\n")}`;
  }
  return `${status}: ${text || "error"}`;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// -- pickers -------------------------------------------------------------------------------------
function fillSelect(select, values, labels = values) {
  select.replaceChildren(...values.map((v, i) => {
    const option = el("option", labels[i]);
    option.value = v;
    return option;
  }));
}

// this season's teams first, then those of earlier seasons (relegated, promoted since), apart
function fillTeams(select, teams, current) {
  const group = (label, names) => {
    const node = el("optgroup");
    node.label = label;
    for (const name of names) {
      const option = el("option", name);
      option.value = name;
      node.append(option);
    }
    return node;
  };
  const now = teams.slice(0, current), earlier = teams.slice(current);
  select.replaceChildren(group(`This season (${now.length})`, now),
                         ...(earlier.length ? [group(`Earlier seasons (${earlier.length})`, earlier)] : []));
}

async function loadModels() {
  const models = await call("models");
  state.models = Object.fromEntries(models.map((m) => [m.competition, m]));
  fillSelect($("competition"), models.map((m) => m.competition),
             models.map((m) => `${m.competition} (${m.model_name} v${m.model_version})`));
  $("served").textContent = models.map((m) => `${m.competition}: ${m.model_name} v${m.model_version}`).join(" · ");
}

async function loadCompetition() {
  const code = $("competition").value;
  const threeWay = state.models[code]?.outcomes.length === 3;
  $("price-draw-label").hidden = !threeWay;
  if (!threeWay) $("price-draw").value = "";
  const list = await call(`teams?competition=${encodeURIComponent(code)}`);
  const teams = list.teams, current = list.current ?? teams.length;
  fillTeams($("home-team"), teams, current);
  fillTeams($("away-team"), teams, current);
  if (teams.length > 1) $("away-team").value = teams[1];
  $("result").hidden = true;
  await Promise.all([loadUpcoming(), loadMonitoring()]);
}

// -- forecast ------------------------------------------------------------------------------------
function fixtureBody() {
  const body = {
    competition: $("competition").value,
    home_team: $("home-team").value,
    away_team: $("away-team").value,
    neutral: $("neutral").checked,
    what_if: true,  // the form asks "what if": logged, but not an upcoming fixture
  };
  if ($("date").value) body.date = $("date").value;
  const prices = {};
  for (const outcome of ["home", "draw", "away"]) {
    const value = $(`price-${outcome}`).value.trim();
    if (value !== "") prices[outcome] = Number(value);
  }
  if (Object.keys(prices).length) body.prices = prices;
  return body;
}

async function predict(event) {
  event.preventDefault();
  const button = $("predict");
  button.disabled = true;
  showError("");
  track(+1);  // until the answer is shown
  try {
    const answer = await call("predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(fixtureBody()),
    });
    renderPrediction(answer);
    loadUpcoming().catch((error) => showError(error.message));
  } catch (error) {
    $("result").hidden = true;
    showError(error.message);
  } finally {
    button.disabled = false;
    track(-1);
  }
}

function outcomesOf(p) {
  const list = [{ key: "home", label: p.home_team }];
  if (p.prob_draw !== undefined && p.prob_draw !== null) list.push({ key: "draw", label: "Draw" });
  list.push({ key: "away", label: p.away_team });
  return list;
}

function renderPrediction(p) {
  $("result-title").textContent = `${p.home_team} v ${p.away_team}, ${p.date}${p.neutral ? " (neutral)" : ""}`;
  $("result-model").textContent = `${p.competition} · model ${p.model_name} v${p.model_version} · prediction #${p.prediction_id}`;
  // a fixture long after the model's last result: its ratings have not seen anything since
  const stale = p.days_after_history != null && p.days_after_history > STALE_DAYS;
  $("stale").hidden = !stale;
  if (stale) {
    $("stale").textContent = `Stale: the model's data ends ${p.history_ends}, ` +
      `${p.days_after_history} days before this fixture. Treat this forecast as a what-if on ` +
      `old ratings, not as a forecast of this date.`;
  }
  const outcomes = outcomesOf(p);
  renderChart(outcomes.map((o) => ({ ...o, probability: p[`prob_${o.key}`] })));
  $("outcomes").tBodies[0].replaceChildren(...outcomes.map((o) => {
    const edge = p[`edge_${o.key}`];
    const price = p[`price_${o.key}`];
    const edgeCell = el("td", edge == null ? "–" : signedPercent(edge),
                        `num edge ${edge == null ? "" : edge >= 0 ? "positive" : "negative"}`);
    const tr = row([el("td", o.label),
                    el("td", percent(p[`prob_${o.key}`]), "num prob"),
                    el("td", odds(p[`fair_odds_${o.key}`]), "num fair-odds"),
                    el("td", price == null ? "–" : odds(price), "num price"),
                    edgeCell]);
    tr.dataset.outcome = o.key;
    return tr;
  }));
  const football = p.expected_goals_home != null;
  $("football-detail").hidden = !football;
  $("twoway-detail").hidden = football || p.margin == null;
  if (football) {
    $("xg-home").textContent = goals(p.expected_goals_home);
    $("xg-away").textContent = goals(p.expected_goals_away);
    $("top-scores").replaceChildren(...(p.top_scores || []).map(
      (s) => el("li", `${s.home}-${s.away}: ${percent(s.probability)}`)));
  } else if (p.margin != null) {
    $("intervals").tBodies[0].replaceChildren(...["margin", "total"].map((t) => {
      const tr = row([el("td", t === "margin" ? "Margin" : "Total"),
                      el("td", points(p[t]), "num expected"),
                      el("td", `${points(p[`${t}_lower_80`])} to ${points(p[`${t}_upper_80`])}`, "num interval-80"),
                      el("td", `${points(p[`${t}_lower_95`])} to ${points(p[`${t}_upper_95`])}`, "num interval-95")]);
      tr.dataset.target = t;
      return tr;
    }));
  }
  $("result").hidden = false;
}

function renderChart(bars) {
  const chart = $("chart");
  const rowHeight = 30, labelWidth = 150, barWidth = 260, width = labelWidth + barWidth + 70;
  chart.setAttribute("viewBox", `0 0 ${width} ${rowHeight * bars.length}`);
  chart.replaceChildren(...bars.map((bar, i) => {
    const g = document.createElementNS(SVG, "g");
    g.setAttribute("transform", `translate(0, ${i * rowHeight})`);
    g.dataset.outcome = bar.key;
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", 0);
    label.setAttribute("y", rowHeight / 2);
    label.textContent = bar.label.length > 20 ? `${bar.label.slice(0, 19)}…` : bar.label;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", labelWidth);
    rect.setAttribute("y", 5);
    rect.setAttribute("height", rowHeight - 10);
    rect.setAttribute("width", Math.max(1, barWidth * bar.probability));
    rect.setAttribute("class", `bar-${bar.key}`);
    const value = document.createElementNS(SVG, "text");
    value.setAttribute("x", labelWidth + barWidth * bar.probability + 6);
    value.setAttribute("y", rowHeight / 2);
    value.setAttribute("class", "bar-value");
    value.textContent = percent(bar.probability);
    g.append(label, rect, value);
    return g;
  }));
}

// -- upcoming fixtures ---------------------------------------------------------------------------
async function loadUpcoming() {
  const code = $("competition").value;
  const list = await call(`upcoming?competition=${encodeURIComponent(code)}&days=${$("days").value}`);
  const rows = list.predictions.map((p) => {
    const outcomes = outcomesOf(p);
    const tr = row([el("td", p.date, "date"),
                    el("td", `${p.home_team} v ${p.away_team}`, "fixture"),
                    el("td", outcomes.map((o) => percent(p[`prob_${o.key}`])).join(" / "), "num probs"),
                    el("td", outcomes.map((o) => odds(p[`fair_odds_${o.key}`])).join(" / "), "num fair-odds"),
                    el("td", `${p.model_name} v${p.model_version}`, "model")]);
    tr.dataset.predictionId = p.prediction_id;
    return tr;
  });
  $("upcoming").tBodies[0].replaceChildren(...rows);
  $("upcoming").hidden = !rows.length;
  $("upcoming-empty").hidden = rows.length > 0;
  $("upcoming-empty").textContent = `No forecasts stored for ${code} fixtures from ${list.start} to ${list.end}.`;
}

// -- monitoring ----------------------------------------------------------------------------------
// live scores shown beside the champion's backtest, with how a quant names them
const LIVE_METRICS = [["rps", "RPS"], ["log_loss", "log loss"], ["brier", "Brier"], ["accuracy", "accuracy"], ["ece", "ECE"]];

// "2026-12-05T06:28:06Z" as "2026-12-05 06:28 UTC"
function utcMinute(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

async function loadMonitoring() {
  const code = $("competition").value;
  const m = await call(`monitoring?competition=${encodeURIComponent(code)}`);
  const panel = $("monitoring");
  if (!m.has_run) {
    panel.replaceChildren(el("span", "no run", "status none"), el("p", m.message, "message"));
    return;
  }
  const parts = [
    el("span", m.ok ? "OK" : `${m.alerts.length} ALERT${m.alerts.length === 1 ? "" : "S"}`,
       `status ${m.ok ? "ok" : "alert"}`),
    el("p", `Last run ${utcMinute(m.at)}${m.champion_version ? ` · champion v${m.champion_version}` : ""}`, "when"),
  ];
  const facts = document.createElement("table");
  facts.id = "monitoring-facts";
  const fact = (name, value, key, backtest) => {
    const cell = el("td", value, "num");
    if (backtest === undefined) cell.colSpan = 2;  // a fact, not a score beside its backtest
    const tr = row(backtest === undefined ? [el("th", name), cell] : [el("th", name), cell, el("td", backtest, "num backtest")]);
    tr.dataset.key = key;
    facts.append(tr);
  };
  if (m.drift_share != null) {
    fact("Drift share", `${percent(m.drift_share)} (${m.drifted_features.length} of ${m.compared_features} features)`, "drift_share");
  }
  if (m.window_predictions != null) fact("Predictions in window", `${m.window_predictions} (${m.window_settled} settled)`, "window");
  const scored = LIVE_METRICS.filter(([key]) => m.live[key] != null);
  if (scored.length) {
    const head = row([el("th", `Scores on ${m.live.n ?? "?"} settled`), el("th", "live", "num"), el("th", "backtest", "num")]);
    head.className = "scores-head";
    facts.append(head);
  }
  const backtest = m.backtest || {};
  for (const [key, name] of scored) {
    fact(name, m.live[key].toFixed(4), `live_${key}`, backtest[key] != null ? backtest[key].toFixed(4) : "-");
  }
  for (const [key, share] of Object.entries(m.coverage)) fact(`Coverage ${key}`, percent(share), `coverage_${key}`);
  parts.push(facts);
  if (m.alerts.length) {
    const alerts = el("ul", undefined, "alerts");
    alerts.append(...m.alerts.map((a) => el("li", a, "alert")));
    parts.push(alerts);
  }
  if (m.notes.length) {
    const notes = el("ul", undefined, "notes muted");
    notes.append(...m.notes.map((n) => el("li", n)));
    parts.push(notes);
  }
  panel.replaceChildren(...parts);
}

// -- live games: GET /live/stream (Server-Sent Events; the browser resumes with Last-Event-ID) ----
const live = { games: new Map(), drawn: new Set(), frame: 0 };
const QUARTER_S = 720;
const signedPoints = (x) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
const periodName = (period) => (period <= 4 ? `Q${period}` : `OT${period - 4}`);

function startLive() {
  const source = new EventSource(API("live/stream?competition=NBA"));
  source.addEventListener("open", () => { $("live-status").textContent = "connected"; });
  source.addEventListener("error", () => { $("live-status").textContent = "reconnecting…"; });
  source.addEventListener("forecast", (message) => {
    const forecast = JSON.parse(message.data);
    let game = live.games.get(forecast.game_id);
    if (!game) {
      game = { points: [] };
      live.games.set(forecast.game_id, game);
    }
    game.points.push(forecast);
    game.last = forecast;
    live.drawn.delete(forecast.game_id);
    if (!live.frame) live.frame = requestAnimationFrame(drawLive);
  });
}

function drawLive() {
  live.frame = 0;
  for (const [id, game] of live.games) {
    if (!live.drawn.has(id)) {
      drawGame(id, game);
      live.drawn.add(id);
    }
  }
  $("live-empty").hidden = live.games.size > 0;
  const playing = [...live.games.values()].filter((g) => !g.last.final).length;
  $("live-status").textContent = `${playing} in progress, ${live.games.size - playing} final`;
}

function gameCard(id) {
  let card = document.querySelector(`.live-game[data-game="${CSS.escape(id)}"]`);
  if (card) return card;
  card = el("article", null, "live-game");
  card.dataset.game = id;
  const head = el("div", null, "live-head");
  head.append(el("span", null, "live-teams"), el("span", null, "live-score"), el("span", null, "live-clock"));
  const figures = el("div", null, "live-figures");
  figures.append(el("span", null, "live-win"), el("span", null, "live-half"));
  const chart = document.createElementNS(SVG, "svg");
  chart.setAttribute("class", "live-chart");
  chart.setAttribute("viewBox", "0 0 300 150");
  chart.setAttribute("preserveAspectRatio", "none");
  card.append(head, figures, chart, el("p", null, "live-explanation muted"));
  $("live-games").append(card);
  return card;
}

function drawGame(id, game) {
  const f = game.last;
  const card = gameCard(id);
  card.classList.toggle("final", f.final);
  card.style.order = f.final ? "1" : "0";  // games in progress first
  card.dataset.lastId = String(f.id);
  card.dataset.points = String(game.points.length);
  card.querySelector(".live-teams").textContent = `${f.away_team} @ ${f.home_team}`;
  card.querySelector(".live-score").textContent = `${f.away_score}–${f.home_score}`;
  card.querySelector(".live-clock").textContent = f.final ? "Final" : `${periodName(f.period)} ${f.clock}`;
  card.querySelector(".live-win").textContent = `${f.home_team} win ${percent(f.win_prob)}`;
  const half = card.querySelector(".live-half");
  half.textContent = f.halftime === null
    ? "half-time forecast after 18 min"
    : `HT ${signedPoints(f.halftime)} (${signedPoints(f.halftime_low)} to ${signedPoints(f.halftime_high)}, ${Math.round(100 * f.halftime_coverage)}%)`;
  card.querySelector(".live-explanation").textContent = explanation(f.explanation);
  drawChart(card.querySelector(".live-chart"), game.points);
}

// the halftime forecast's explanation (JSON): the closest past games when the model matched
// some (Dejavu, alone or in the ensemble), else its fields
function explanation(text) {
  if (!text) return "";
  let e;
  try { e = JSON.parse(text); } catch { return text; }
  const members = Array.isArray(e.members) ? e.members : [];
  const games = e.matched_games || members.find((m) => Array.isArray(m.matched_games))?.matched_games;
  if (games) {
    const parts = members.map((m) => `${m.name} ${signedPoints(m.forecast)}`);
    const like = games.slice(0, 3).map((g) => `${g.away_team} @ ${g.home_team} ${g.date} (HT ${signedPoints(g.ht_margin)})`);
    return [...parts, `like ${like.join(", ")}`].join("; ");
  }
  return Object.entries(e).map(([key, value]) => `${key} ${typeof value === "object" ? JSON.stringify(value) : value}`).join(", ");
}

function drawChart(svg, points) {
  // top 0..70: win probability 0..1; bottom 80..150: margin, symmetric around 0
  const end = Math.max(4 * QUARTER_S, points[points.length - 1].elapsed_s);
  const x = (s) => 4 + (292 * s) / end;
  const win = (p) => 66 - 62 * p;
  const reach = Math.ceil(Math.max(10, ...points.map((p) => Math.abs(p.home_score - p.away_score)),
    ...points.filter((p) => p.halftime !== null).map((p) => Math.max(Math.abs(p.halftime_low), Math.abs(p.halftime_high)))));
  const margin = (m) => 115 - (33 * m) / reach;
  const shapes = [
    ["line", { class: "axis", x1: 4, x2: 296, y1: win(0.5), y2: win(0.5) }],
    ["line", { class: "axis", x1: 4, x2: 296, y1: margin(0), y2: margin(0) }],
    ["line", { class: "half", x1: x(2 * QUARTER_S), x2: x(2 * QUARTER_S), y1: 2, y2: 148 }],
    ["polyline", { class: "win", points: points.map((p) => `${x(p.elapsed_s).toFixed(1)},${win(p.win_prob).toFixed(1)}`).join(" ") }],
    ["polyline", { class: "margin", points: points.map((p) => `${x(p.elapsed_s).toFixed(1)},${margin(p.home_score - p.away_score).toFixed(1)}`).join(" ") }],
  ];
  const forecast = points.find((p) => p.halftime !== null);
  if (forecast) {
    const at = x(2 * QUARTER_S);
    shapes.push(["line", { class: "interval", x1: at, x2: at, y1: margin(forecast.halftime_low), y2: margin(forecast.halftime_high) }]);
    shapes.push(["circle", { class: "forecast", cx: at, cy: margin(forecast.halftime), r: 3 }]);
  }
  const labels = [["text", { x: 6, y: 10 }, "win 100%"], ["text", { x: 6, y: 78 }, `margin ±${reach}`]];
  svg.replaceChildren(...[...shapes, ...labels].map(([tag, attrs, text]) => {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  }));
}

// -- start ---------------------------------------------------------------------------------------
async function start() {
  startLive();
  $("fixture-form").addEventListener("submit", predict);
  const guarded = (load) => async () => {
    track(+1);
    try {
      await load();
      showError("");
    } catch (error) {
      showError(error.message);
    } finally {
      track(-1);
    }
  };
  $("competition").addEventListener("change", guarded(loadCompetition));
  $("days").addEventListener("change", guarded(loadUpcoming));
  track(+1);  // until the first competition is shown
  try {
    await loadModels();
    await loadCompetition();
  } catch (error) {
    showError(error.message);
  } finally {
    track(-1);
  }
}

document.addEventListener("DOMContentLoaded", start);
