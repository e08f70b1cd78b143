// cmtlite studio: the page. Plain JavaScript, no dependencies; everything goes through the token-checked /api/.
"use strict";

const FAMILIES = ["drums", "piano", "guitar", "bass", "strings"];
const MAX_LEVEL = 16;
const LANES = { bars: [0, 18], density: [22, 110], motion: [114, 200], strength: [204, 292] };
const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);

const state = { project: null, controls: null, takes: [], undo: [], redo: [], selection: null, drag: null,
                playing: null, abPair: [], saveTimer: null, polling: null };

function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token}`, ...(options.headers || {}) };
  return fetch(`/api${path}`, { ...options, headers }).then(async (response) => {
    const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
    if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
    return body;
  });
}
const fileUrl = (path) => `/api${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// ---- projects ----------------------------------------------------------------------------------

async function refreshProjects(select) {
  const projects = await api("/projects");
  const list = $("projects");
  list.replaceChildren(...projects.map((p) => new Option(`${p.name} (${p.status}, ${p.takes} takes)`, p.id)));
  if (select) list.value = select;
  if (!state.project && projects.length) loadProject(list.value);
}

async function createProject(request) {
  try {
    status("uploading…");
    const { id } = await api("/projects", request);
    await refreshProjects(id);
    loadProject(id);
  } catch (err) { status(err.message, true); }
}

async function loadProject(id) {
  state.project = id;
  state.undo = []; state.redo = []; state.selection = null; state.controls = null;
  stopTake();
  updateButtons();
  await pollProject();
}

async function pollProject() {
  clearTimeout(state.polling);
  if (!state.project) return;
  const id = state.project;
  let project;
  try { project = await api(`/projects/${id}`); } catch (err) { status(err.message, true); return; }
  if (id !== state.project) return;
  if (project.status === "analyzing") {
    const p = project.progress;
    status(`analyzing ${project.name}${p && p.total ? `: ${Math.round(100 * p.done / p.total)} %` : "…"}`);
  } else if (project.status === "failed") {
    status(`${project.name}: ${project.error}`, true);
  } else {
    if (!state.controls) {
      state.controls = project.controls;
      $("video").src = fileUrl(`/projects/${id}/video`);
      status(`${project.name}: ${state.controls.n_bars} bars, ${state.controls.visual_beats.length} visual beats, ` +
             `${state.controls.scene_cuts_s.length} cuts`);
    }
    state.takes = project.takes;
    renderTakes();
    draw();
  }
  const busy = project.status === "analyzing" || project.takes.some((t) => t.status === "queued" || t.status === "running");
  if (busy) state.polling = setTimeout(pollProject, 400);
  updateButtons();
}

// ---- timeline ----------------------------------------------------------------------------------

function barEdges() {
  const c = state.controls;
  const tempos = new Array(c.n_bars).fill(c.tempo_bpm);
  for (const change of c.tempo_map || []) for (let b = change.bar; b < c.n_bars; b++) tempos[b] = change.tempo_bpm;
  const edges = [c.grid_start_s];
  for (let b = 0; b < c.n_bars; b++) edges.push(edges[b] + 240 / tempos[b]);
  return { edges, tempos };
}

function view() {
  const canvas = $("timeline");
  const { edges } = barEdges();
  const t0 = Math.min(edges[0], 0), t1 = Math.max(edges[edges.length - 1], state.controls.duration_s);
  const width = canvas.clientWidth || 800;
  return { t0, t1, width, x: (t) => ((t - t0) / (t1 - t0)) * width, t: (x) => t0 + (x / width) * (t1 - t0) };
}

function laneY(lane, value, top = MAX_LEVEL) {
  const [y0, y1] = LANES[lane];
  return y1 - (Math.max(0, Math.min(value, top)) / top) * (y1 - y0);
}

function draw() {
  const canvas = $("timeline"), c = state.controls;
  if (!c) return;
  const v = view();
  canvas.width = v.width;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const { edges, tempos } = barEdges();
  g.fillStyle = "#eee";
  g.fillRect(v.x(v.t0), 0, v.x(0) - v.x(v.t0), canvas.height);
  g.fillRect(v.x(c.duration_s), 0, v.x(v.t1) - v.x(c.duration_s), canvas.height);
  edges.slice(0, -1).forEach((start, b) => {
    const x0 = v.x(start), x1 = v.x(edges[b + 1]);
    const selected = state.selection && b >= state.selection[0] && b <= state.selection[1];
    g.fillStyle = selected ? "#fc6" : (b % 2 ? "#dde" : "#eef");
    g.fillRect(x0, LANES.bars[0], x1 - x0, LANES.bars[1]);
    g.fillStyle = "#333"; g.font = "10px sans-serif";
    g.fillText(`${b} · ${tempos[b].toFixed(1)}`, x0 + 2, 12);
    g.strokeStyle = "#bbb"; g.beginPath(); g.moveTo(x0, 0); g.lineTo(x0, canvas.height); g.stroke();
    g.fillStyle = "rgba(255,140,0,0.55)";
    const y = laneY("density", c.bars[b].density);
    g.fillRect(x0 + 1, y, x1 - x0 - 2, LANES.density[1] - y);
  });
  if (c.frame_motion) {
    const top = Math.max(...c.frame_motion.speed, 1e-6);
    g.strokeStyle = "#27c"; g.beginPath();
    c.frame_motion.times_s.forEach((t, i) => {
      const y = LANES.motion[1] - (c.frame_motion.speed[i] / top) * (LANES.motion[1] - LANES.motion[0]);
      i ? g.lineTo(v.x(t), y) : g.moveTo(v.x(t), y);
    });
    g.stroke();
  }
  for (const beat of c.visual_beats) {
    g.strokeStyle = "#2a2"; g.beginPath();
    g.moveTo(v.x(beat.time_s), LANES.motion[1]); g.lineTo(v.x(beat.time_s), LANES.motion[1] - beat.strength * 60); g.stroke();
  }
  g.setLineDash([4, 3]); g.strokeStyle = "#d22";
  for (const cut of c.scene_cuts_s) { g.beginPath(); g.moveTo(v.x(cut), 0); g.lineTo(v.x(cut), canvas.height); g.stroke(); }
  g.setLineDash([]);
  c.beats.forEach((beat, k) => {
    g.fillStyle = k % 4 ? "#c6c" : "#739";
    const y = laneY("strength", beat.strength_level);
    g.fillRect(v.x(beat.time_s) - 3, y, 6, LANES.strength[1] - y);
  });
  const now = $("take-audio").src && !$("take-audio").paused ? $("take-audio").currentTime : $("video").currentTime;
  g.strokeStyle = "#000"; g.beginPath(); g.moveTo(v.x(now), 0); g.lineTo(v.x(now), canvas.height); g.stroke();
}

function barAt(x) {
  const t = view().t(x), { edges } = barEdges();
  for (let b = 0; b < edges.length - 1; b++) if (t >= edges[b] && t < edges[b + 1]) return b;
  return -1;
}

function beatAt(x) {
  const t = view().t(x);
  let best = -1, distance = Infinity;
  state.controls.beats.forEach((beat, k) => { const d = Math.abs(beat.time_s - t); if (d < distance) { best = k; distance = d; } });
  return best;
}

function levelAt(lane, y) {
  const [y0, y1] = LANES[lane];
  return Math.round(Math.max(0, Math.min(1, (y1 - y) / (y1 - y0))) * MAX_LEVEL);
}

function pointer(event) {
  const box = $("timeline").getBoundingClientRect();
  return { x: event.clientX - box.left, y: (event.clientY - box.top) * ($("timeline").height / box.height) };
}

function onDown(event) {
  if (!state.controls) return;
  const { x, y } = pointer(event);
  if (y <= LANES.bars[1]) {
    const b = barAt(x);
    if (b < 0) return;
    state.selection = event.shiftKey && state.selection ? [Math.min(state.selection[0], b), Math.max(state.selection[1], b)] : [b, b];
    showSelection(); draw(); updateButtons();
    return;
  }
  const lane = y >= LANES.strength[0] ? "strength" : y <= LANES.density[1] ? "density" : null;
  if (!lane) { $("video").currentTime = Math.max(0, view().t(x)); return; }
  const index = lane === "density" ? barAt(x) : beatAt(x);
  if (index < 0) return;
  state.drag = { lane, index, before: JSON.stringify(state.controls) };
  onMove(event);
}

function onMove(event) {
  if (!state.drag) return;
  const { y } = pointer(event);
  const level = levelAt(state.drag.lane, y);
  if (state.drag.lane === "density") state.controls.bars[state.drag.index].density = level;
  else state.controls.beats[state.drag.index].strength_level = level;
  draw();
}

function onUp() {
  if (!state.drag) return;
  const { before } = state.drag;
  state.drag = null;
  if (before !== JSON.stringify(state.controls)) commit(before);
}

// ---- edits, undo, save -------------------------------------------------------------------------

function commit(before) {
  state.undo.push(before);
  state.redo = [];
  scheduleSave();
  updateButtons();
}

function restore(from, to) {
  if (!from.length) return;
  to.push(JSON.stringify(state.controls));
  state.controls = JSON.parse(from.pop());
  scheduleSave(); draw(); updateButtons();
}

function scheduleSave() {
  clearTimeout(state.saveTimer);
  state.saveTimer = setTimeout(save, 250);
}

async function save() {
  clearTimeout(state.saveTimer);
  state.saveTimer = null;
  try {
    const { controls } = await api(`/projects/${state.project}/controls`, {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(state.controls) });
    state.controls = controls;
    status("controls saved");
    draw();
  } catch (err) { status(`not saved: ${err.message}`, true); }
}

function setBarTempo() {
  const value = parseFloat($("bar-tempo").value);
  if (!state.selection || !(value >= 30 && value <= 300)) { status("select a bar and give a tempo in 30..300 BPM", true); return; }
  const before = JSON.stringify(state.controls), bar = state.selection[0];
  const { tempos } = barEdges();
  const map = (state.controls.tempo_map || []).filter((c) => c.bar !== bar);
  map.push({ bar, tempo_bpm: value });
  const next = state.selection[1] + 1;
  if (next < state.controls.n_bars && !map.some((c) => c.bar === next)) map.push({ bar: next, tempo_bpm: tempos[next] });
  state.controls.tempo_map = map.sort((a, b) => a.bar - b.bar);
  commit(before);
  draw();
}

function showSelection() {
  const s = state.selection;
  $("selection").textContent = s ? (s[0] === s[1] ? `bar ${s[0]}` : `bars ${s[0]}–${s[1]}`) : "none";
  if (s) $("bar-tempo").value = barEdges().tempos[s[0]].toFixed(1);
}

// ---- takes -------------------------------------------------------------------------------------

function takeRequest(extra = {}) {
  const instruments = FAMILIES.filter((f) => $(`instrument-${f}`).checked);
  return { seed: parseInt($("seed").value, 10) || 0, instruments, density_shift: parseInt($("density-shift").value, 10),
           strength_shift: parseInt($("strength-shift").value, 10), ...extra };
}

async function makeTake(extra) {
  try {
    if (state.saveTimer) await save();
    await api(`/projects/${state.project}/takes`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(takeRequest(extra)) });
    status("take queued");
    pollProject();
  } catch (err) { status(err.message, true); }
}

function latestReadyTake() {
  const ready = state.takes.filter((t) => t.status === "ready");
  return state.playing && ready.some((t) => t.id === state.playing) ? state.playing : ready.length ? ready[ready.length - 1].id : null;
}

function renderTakes() {
  const list = $("takes");
  list.replaceChildren(...state.takes.map((take, n) => {
    const item = document.createElement("li");
    item.dataset.testid = `take-${take.id}`;
    item.classList.toggle("playing", take.id === state.playing);
    const what = take.bars ? `bars ${take.bars[0]}–${take.bars[1]} of take ${take.from_take.slice(0, 4)}` : `seed ${take.seed}`;
    const p = take.progress;
    const progress = p && p.total ? ` ${p.stage} ${Math.round(100 * p.done / p.total)} %` : "";
    item.append(`#${n + 1} ${take.id.slice(0, 4)} · ${what} · ${take.status}${progress}${take.error ? `: ${take.error}` : ""} `);
    if (take.status === "ready") {
      const play = document.createElement("button");
      play.textContent = take.id === state.playing ? "Stop" : "Play";
      play.dataset.testid = `play-${take.id}`;
      play.onclick = () => (take.id === state.playing ? stopTake() : playTake(take.id));
      const ab = document.createElement("input");
      ab.type = "checkbox"; ab.title = "compare (A/B)"; ab.dataset.testid = `ab-${take.id}`;
      ab.checked = state.abPair.includes(take.id);
      ab.onchange = () => { state.abPair = ab.checked ? [...state.abPair, take.id].slice(-2) : state.abPair.filter((t) => t !== take.id);
                            renderTakes(); updateButtons(); };
      item.append(play, " ", ab, " ");
      for (const name of ["soundtrack.mp4", "soundtrack.mid", "soundtrack.wav"]) item.append(link(take, name, name.split(".")[1]));
      for (const family of take.families || []) item.append(link(take, `stems/${family}.wav`, family));
    }
    return item;
  }));
}

function link(take, path, label) {
  const a = document.createElement("a");
  a.href = fileUrl(`/projects/${state.project}/takes/${take.id}/${path}`);
  a.textContent = label; a.className = "download"; a.download = ""; a.dataset.testid = `download-${take.id}-${label}`;
  return a;
}

function playTake(id, at = 0) {
  const audio = $("take-audio"), video = $("video");
  state.playing = id;
  audio.src = fileUrl(`/projects/${state.project}/takes/${id}/soundtrack.wav`);
  audio.currentTime = at;
  video.currentTime = at;
  audio.play().catch((err) => status(`cannot play: ${err.message}`, true));
  video.play().catch(() => {});
  renderTakes(); updateButtons();
}

function stopTake() {
  const audio = $("take-audio");
  audio.pause();
  $("video").pause();
  state.playing = null;
  renderTakes(); updateButtons();
}

function toggleAB() {
  if (state.abPair.length !== 2) return;
  const other = state.abPair.find((t) => t !== state.playing) || state.abPair[0];
  playTake(other, $("take-audio").currentTime || 0);
  $("ab-state").textContent = other === state.abPair[0] ? "A" : "B";
}

function updateButtons() {
  const ready = Boolean(state.controls);
  $("generate").disabled = !ready;
  $("regenerate").disabled = !(ready && state.selection && latestReadyTake());
  $("undo").disabled = !state.undo.length;
  $("redo").disabled = !state.redo.length;
  $("ab-toggle").disabled = state.abPair.length !== 2;
  if (state.selection) {
    const [a, b] = state.selection;
    $("regenerate").textContent = `Regenerate bars ${a}–${b}`;
  }
}

// ---- wiring ------------------------------------------------------------------------------------

function setup() {
  $("instruments").replaceChildren(...FAMILIES.map((f) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = true; box.id = `instrument-${f}`; box.dataset.testid = `instrument-${f}`;
    label.append(box, ` ${f}`);
    return label;
  }));
  for (const id of ["density-shift", "strength-shift"]) $(id).oninput = () => { $(`${id}-value`).textContent = $(id).value; };
  $("projects").onchange = () => loadProject($("projects").value);
  $("open-path").onsubmit = (event) => {
    event.preventDefault();
    createProject({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ video: $("path").value }) });
  };
  const drop = $("drop");
  drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (event) => {
    event.preventDefault(); drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    createProject({ method: "POST", body: form });
  };
  const canvas = $("timeline");
  canvas.addEventListener("mousedown", onDown);
  window.addEventListener("mousemove", onMove);
  window.addEventListener("mouseup", onUp);
  $("undo").onclick = () => restore(state.undo, state.redo);
  $("redo").onclick = () => restore(state.redo, state.undo);
  $("apply-tempo").onclick = setBarTempo;
  $("generate").onclick = () => makeTake();
  $("regenerate").onclick = () => makeTake({ from_take: latestReadyTake(), bars: state.selection });
  $("ab-toggle").onclick = toggleAB;
  $("take-audio").onended = stopTake;
  $("video").ontimeupdate = draw;
  window.addEventListener("resize", draw);
  (function tick() { if (state.playing) draw(); requestAnimationFrame(tick); })();
  refreshProjects().catch((err) => status(err.message, true));
}

window.studio = {  // for scripted use and tests: where things are drawn, in canvas pixels
  barX: (b) => { const v = view(), { edges } = barEdges(); return (v.x(edges[b]) + v.x(edges[b + 1])) / 2; },
  laneY,
  state,
};
setup();
