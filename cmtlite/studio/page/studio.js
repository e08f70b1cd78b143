// cmtlite studio: the page. Plain JavaScript, no dependencies. The API is reached with the HttpOnly cookie that opening the
// printed link set, so no URL here carries the token. The video is the transport: the take's <audio> follows it.
"use strict";

const MAX_LEVEL = 16;
const LANES = { bars: [0, 18], density: [22, 90], motion: [94, 150], strength: [154, 214] };
const PALETTE = ["#d0453a", "#2f7ed8", "#e0a020", "#3a9a4a", "#8a55c8", "#1aa3a3", "#c05a90", "#777"];
const DRIFT_S = 0.08;  // the take is moved back onto the video when they drift further apart than this
const $ = (id) => document.getElementById(id);

const state = {
  families: [], keys: [], projects: [], project: null, controls: null, takes: [], undo: [], redo: [], selection: null,
  drag: null, current: null, abPair: [null, null], saveTimer: null, polling: null, listing: null, notes: null, notesOf: null,
  muted: new Set(), solo: new Set(), picked: null, loop: false, waitingFor: null, musicUrl: "", lanesShown: "", takesShown: "",
};

async function api(path, options = {}) {
  const response = await fetch(`/api${path}`, { credentials: "same-origin", ...options });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}
const jsonBody = (method, obj) => ({ method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(obj) });
const takeUrl = (take, path) => `/api/projects/${state.project}/takes/${take}/${path}`;

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "testid") node.dataset.testid = value;
    else if (key in node && key !== "list") node[key] = value;  // list (a datalist id) is an attribute only
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// ---- projects ----------------------------------------------------------------------------------

async function refreshProjects(select) {
  clearTimeout(state.listing);
  const projects = await api("/projects");
  state.projects = projects;
  const list = $("projects");
  list.replaceChildren(...projects.map((p) => new Option(`${p.name} · ${p.status === "ready" ? `${p.takes} takes` : p.status}`, p.id)));
  const chosen = select || state.project || (projects.find((p) => p.status !== "failed") || {}).id;
  if (chosen && projects.some((p) => p.id === chosen)) list.value = chosen;
  else list.selectedIndex = -1;
  if (chosen && chosen !== state.project) await loadProject(chosen);
  if (!chosen) showEmpty(projects);
  if (projects.some((p) => p.status === "importing" || p.status === "analyzing")) state.listing = setTimeout(refreshProjects, 1000);
}

function showEmpty(projects) {
  state.project = null;
  $("empty").hidden = false;
  $("workspace").hidden = true;
  $("delete-project").disabled = true;
  const failed = projects.filter((p) => p.status === "failed").length;
  status(failed ? `${failed} earlier project${failed > 1 ? "s" : ""} failed (listed, not opened): open another video` : "");
}

async function createProject(request) {
  try {
    status("sending the video…");
    const { id } = await api("/projects", request);
    await refreshProjects(id);
  } catch (err) { status(err.message, true); }
}

function resetProjectState() {
  clearTimeout(state.polling); clearTimeout(state.saveTimer);
  Object.assign(state, { controls: null, takes: [], undo: [], redo: [], selection: null, drag: null, current: null,
                         abPair: [null, null], saveTimer: null, notes: null, notesOf: null, picked: null, loop: false,
                         waitingFor: null, musicUrl: "", lanesShown: "", takesShown: "" });
  state.muted.clear(); state.solo.clear();
  const video = $("video"), music = $("music");
  video.pause(); music.pause();
  video.removeAttribute("src"); video.load();
  music.removeAttribute("src"); music.load();
  $("ab-state").textContent = "";
  $("loop").setAttribute("aria-pressed", "false");
}

async function loadProject(id) {
  resetProjectState();
  state.project = id;
  $("projects").value = id;
  $("empty").hidden = true;
  $("workspace").hidden = false;
  $("delete-project").disabled = false;
  renderAll();
  await pollProject();
}

async function pollProject() {
  clearTimeout(state.polling);
  const id = state.project;
  if (!id) return;
  let project;
  try { project = await api(`/projects/${id}`); } catch (err) { status(err.message, true); return; }
  if (id !== state.project) return;
  const p = project.progress;
  const percent = p && p.total ? `: ${Math.round((100 * p.done) / p.total)} %` : "…";
  if (project.status === "importing") status(`importing ${project.name}${percent}`);
  else if (project.status === "analyzing") status(`analyzing ${project.name}${percent}`);
  else if (project.status === "failed") status(`${project.name} failed: ${project.error}`, true);
  else {
    if (!state.controls) {
      state.controls = project.controls;
      $("video").src = `/api/projects/${id}/video`;
      status(`${project.name}: ${state.controls.n_bars} bars, ${state.controls.scene_cuts_s.length} cuts, key ${state.controls.key || "none"}`);
    }
    updateTakes(project.takes);
  }
  const busy = ["importing", "analyzing"].includes(project.status) || project.takes.some((t) => ["queued", "running"].includes(t.status));
  if (busy) state.polling = setTimeout(pollProject, 400);
  else if (state.projects.some((q) => q.id === id && q.status !== project.status)) refreshProjects();
  renderAll();
}

async function deleteProject() {
  const id = state.project;
  if (!id || !(await confirmTwice($("delete-project")))) return;
  try {
    await api(`/projects/${id}`, { method: "DELETE" });
    state.project = null;
    resetProjectState();
    status("project deleted");
    await refreshProjects();
  } catch (err) { status(err.message, true); }
}

// A destructive button asks once more: the first click arms it for 3 s, the second confirms.
function confirmTwice(button) {
  if (button.dataset.armed === "1") { button.dataset.armed = ""; button.textContent = button.dataset.label; return Promise.resolve(true); }
  button.dataset.label = button.textContent;
  button.dataset.armed = "1";
  button.textContent = "Sure? Click again";
  setTimeout(() => { if (button.dataset.armed === "1") { button.dataset.armed = ""; button.textContent = button.dataset.label; } }, 3000);
  return Promise.resolve(false);
}

// ---- time <-> pixels ---------------------------------------------------------------------------

function barEdges() {
  const c = state.controls;
  const tempos = new Array(c.n_bars).fill(c.tempo_bpm);
  for (const change of c.tempo_map || []) for (let b = change.bar; b < c.n_bars; b++) tempos[b] = change.tempo_bpm;
  const edges = [c.grid_start_s];
  for (let b = 0; b < c.n_bars; b++) edges.push(edges[b] + 240 / tempos[b]);
  return { edges, tempos };
}

function view() {
  const { edges } = barEdges();
  const t0 = Math.min(edges[0], 0), t1 = Math.max(edges[edges.length - 1], state.controls.duration_s);
  const width = $("timeline").clientWidth || 800;
  return { t0, t1, width, x: (t) => ((t - t0) / (t1 - t0)) * width, t: (x) => t0 + (x / width) * (t1 - t0) };
}

const tickTime = (bar, beat = 0) => { const { edges } = barEdges(); return edges[bar] + ((edges[bar + 1] - edges[bar]) * beat) / 4; };

function barAtTime(t) {
  const { edges } = barEdges();
  for (let b = 0; b < edges.length - 1; b++) if (t >= edges[b] && t < edges[b + 1]) return b;
  return -1;
}

// ---- the grid lane (canvas) ---------------------------------------------------------------------

function laneY(lane, value, top = MAX_LEVEL) {
  const [y0, y1] = LANES[lane];
  return y1 - (Math.max(0, Math.min(value, top)) / top) * (y1 - y0);
}

function drawTimeline() {
  const canvas = $("timeline"), c = state.controls;
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
    g.fillStyle = selected ? "#fc6" : b % 2 ? "#dde" : "#eef";
    g.fillRect(x0, LANES.bars[0], x1 - x0, LANES.bars[1]);
    g.fillStyle = "#333"; g.font = "10px sans-serif";
    g.fillText(x1 - x0 > 44 ? `${b} · ${tempos[b].toFixed(1)}` : `${b}`, x0 + 2, 12);
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
      if (i) g.lineTo(v.x(t), y); else g.moveTo(v.x(t), y);
    });
    g.stroke();
  }
  for (const beat of c.visual_beats) {
    g.strokeStyle = "#2a2"; g.beginPath();
    g.moveTo(v.x(beat.time_s), LANES.motion[1]); g.lineTo(v.x(beat.time_s), LANES.motion[1] - beat.strength * 50); g.stroke();
  }
  g.setLineDash([4, 3]); g.strokeStyle = "#d22";
  for (const cut of c.scene_cuts_s) { g.beginPath(); g.moveTo(v.x(cut), 0); g.lineTo(v.x(cut), canvas.height); g.stroke(); }
  g.setLineDash([]);
  c.beats.forEach((beat, k) => {
    g.fillStyle = k % 4 ? "#c6c" : "#739";
    const y = laneY("strength", beat.strength_level);
    g.fillRect(v.x(beat.time_s) - 3, y, 6, LANES.strength[1] - y);
  });
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

function pointer(event, canvas) {
  const box = canvas.getBoundingClientRect();
  return { x: event.clientX - box.left, y: (event.clientY - box.top) * (canvas.height / box.height) };
}

function onTimelineDown(event) {
  if (!state.controls) return;
  const { x, y } = pointer(event, $("timeline"));
  if (y <= LANES.bars[1]) {
    const b = barAtTime(view().t(x));
    if (b < 0) return;
    state.selection = event.shiftKey && state.selection ? [Math.min(state.selection[0], b), Math.max(state.selection[1], b)] : [b, b];
    renderAll();
    return;
  }
  const lane = y >= LANES.strength[0] ? "strength" : y <= LANES.density[1] ? "density" : null;
  if (!lane) { seek(view().t(x)); return; }
  const index = lane === "density" ? barAtTime(view().t(x)) : beatAt(x);
  if (index < 0) return;
  state.drag = { kind: lane, index, before: JSON.stringify(state.controls) };
  onMove(event);
}

function onMove(event) {
  const drag = state.drag;
  if (!drag) return;
  if (drag.kind === "cut") {
    const box = $("cuts").getBoundingClientRect();
    const t = Math.max(0, Math.min(state.controls.duration_s, view().t(event.clientX - box.left)));
    drag.moved = drag.moved || Math.abs(event.clientX - drag.startX) > 2;
    if (drag.moved) { state.controls.scene_cuts_s[drag.index] = Math.round(t * 1000) / 1000; renderLanes(); }
    return;
  }
  const { y } = pointer(event, $("timeline"));
  const level = levelAt(drag.kind, y);
  if (drag.kind === "density") state.controls.bars[drag.index].density = level;
  else state.controls.beats[drag.index].strength_level = level;
  drawTimeline();
}

function onUp() {
  const drag = state.drag;
  if (!drag) return;
  state.drag = null;
  if (drag.kind === "cut") {
    if (!drag.moved) { pick("cut", drag.index); return; }
    state.controls.scene_cuts_s.sort((a, b) => a - b);
  }
  if (drag.before !== JSON.stringify(state.controls)) commit(drag.before, drag.kind === "cut");
}

// ---- the plan lanes (sections, chords, cuts) -----------------------------------------------------

function sectionSpans() {
  const c = state.controls, sections = c.sections.length ? c.sections : [{ start_bar: 0, label: "A" }];
  return sections.map((s, i) => ({ ...s, index: i, end_bar: i + 1 < sections.length ? sections[i + 1].start_bar : c.n_bars }));
}

function chordSpans() {
  const c = state.controls;
  return c.chords.map((ch, i) => {
    const next = c.chords[i + 1];
    return { ...ch, index: i, start_s: tickTime(ch.bar, ch.beat), end_s: next ? tickTime(next.bar, next.beat) : tickTime(c.n_bars) };
  });
}

function block(cls, x0, x1, text, testid, selected, onclick) {
  const node = element("div", { className: `block ${cls}${selected ? " selected" : ""}`, testid, title: text }, text);
  node.style.left = `${x0}px`; node.style.width = `${Math.max(x1 - x0, 2)}px`;
  node.onclick = onclick;
  return node;
}

function renderLanes() {
  const v = view(), picked = state.picked || {}, c = state.controls;
  const shown = JSON.stringify([v.width, v.t0, v.t1, c.sections, c.chords, c.scene_cuts_s, c.tempo_map, c.grid_start_s, picked]);
  if (shown === state.lanesShown) return;  // unchanged: keep the nodes (a click in progress stays on its target)
  state.lanesShown = shown;
  $("sections").replaceChildren(...sectionSpans().map((s) => block("section-block", v.x(tickTime(s.start_bar)), v.x(tickTime(s.end_bar)),
    s.label, `section-${s.index}`, picked.kind === "section" && picked.index === s.index, () => pick("section", s.index))));
  $("chords").replaceChildren(...chordSpans().map((ch) => block("chord-block", v.x(ch.start_s), v.x(ch.end_s), ch.label,
    `chord-${ch.index}`, picked.kind === "chord" && picked.index === ch.index, () => pick("chord", ch.index))));
  $("cuts").replaceChildren(...state.controls.scene_cuts_s.map((t, i) => {
    const marker = element("div", { className: `cut${picked.kind === "cut" && picked.index === i ? " selected" : ""}`,
                                    testid: `cut-${i}`, title: `cut at ${t.toFixed(2)} s` });
    marker.style.left = `${v.x(t)}px`;
    marker.onmousedown = (event) => {
      event.stopPropagation();
      state.drag = { kind: "cut", index: i, before: JSON.stringify(state.controls), startX: event.clientX, moved: false };
    };
    return marker;
  }));
}

function pick(kind, index) {
  state.picked = { kind, index };
  renderLanes();
  renderPlanEditor();
}

function renderPlanEditor() {
  const box = $("plan-editor"), picked = state.picked, c = state.controls;
  if (!picked || !c) { box.replaceChildren(element("p", { className: "hint" }, "Click a section, a chord or a cut to edit it.")); return; }
  if (picked.kind === "section") {
    const s = sectionSpans()[picked.index];
    if (!s) { state.picked = null; renderPlanEditor(); return; }
    const label = element("input", { testid: "section-label", value: s.label, maxLength: 20 });
    label.onchange = () => editPlan((x) => { x.sections = sectionSpans().map(({ start_bar, label: l }, i) =>
      ({ start_bar, label: i === s.index ? label.value.trim() || l : l })); });
    const at = element("input", { testid: "split-bar", type: "number", min: s.start_bar + 1, max: s.end_bar - 1,
                                  value: Math.min(s.end_bar - 1, Math.max(s.start_bar + 1, state.selection ? state.selection[0] : s.start_bar + 1)) });
    const split = element("button", { testid: "split", disabled: s.end_bar - s.start_bar < 2 }, "Split at bar");
    split.onclick = () => splitSection(s, parseInt(at.value, 10));
    const merge = element("button", { testid: "merge", disabled: s.index === 0 }, "Merge with previous");
    merge.onclick = () => editPlan((x) => { x.sections = sectionSpans().filter((q) => q.index !== s.index).map(({ start_bar, label: l }) => ({ start_bar, label: l })); },
                                   () => { state.picked = null; });
    box.replaceChildren(element("p", {}, `Section ${s.label}, bars ${s.start_bar}–${s.end_bar - 1}`),
      element("label", {}, "Label ", label), element("div", {}, split, " ", at), merge,
      element("p", { className: "hint" }, "Sections with one label share their chords; a new label or split plans chords anew."));
  } else if (picked.kind === "chord") {
    const ch = chordSpans()[picked.index];
    if (!ch) { state.picked = null; renderPlanEditor(); return; }
    const input = element("input", { testid: "chord-label", value: ch.label, list: "chord-names" });
    const names = element("datalist", { id: "chord-names" }, ...diatonicChords(c.key).map((n) => new Option(n, n)));
    const apply = () => editPlan((x) => { x.chords[ch.index].label = input.value.trim(); });
    input.onchange = apply;
    box.replaceChildren(element("p", {}, `Chord at bar ${ch.bar}, beat ${ch.beat + 1}`), element("label", {}, "Chord ", input), names,
      element("p", { className: "hint" }, "root:quality, e.g. D:min, G:7, F:maj7; N for no chord."));
  } else {
    const t = c.scene_cuts_s[picked.index];
    if (t === undefined) { state.picked = null; renderPlanEditor(); return; }
    const del = element("button", { testid: "delete-cut" }, "Delete cut");
    del.onclick = () => deleteCut(picked.index);
    const go = element("button", {}, "Go to it");
    go.onclick = () => seek(t);
    box.replaceChildren(element("p", {}, `Cut at ${t.toFixed(2)} s`), go, " ", del,
      element("p", { className: "hint" }, "Drag it on the cuts lane to move it: the grid is fitted again so every cut lands on a beat."));
  }
}

function diatonicChords(key) {
  const names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
  if (!key) return [];
  const [tonic, mode] = key.split(":"), root = names.indexOf(tonic);
  const steps = mode === "min" ? [[0, "min"], [2, "dim"], [3, "maj"], [5, "min"], [7, "7"], [8, "maj"], [10, "maj"]]
    : [[0, "maj"], [2, "min"], [4, "min"], [5, "maj"], [7, "7"], [9, "min"], [11, "dim"]];
  return steps.map(([step, quality]) => `${names[(root + step) % 12]}:${quality}`);
}

function splitSection(s, bar) {
  if (!(bar > s.start_bar && bar < s.end_bar)) { status(`split inside the section: a bar from ${s.start_bar + 1} to ${s.end_bar - 1}`, true); return; }
  const used = new Set(sectionSpans().map((q) => q.label));
  let label = "A";
  for (let i = 0; used.has(label); i++) label = String.fromCharCode(65 + (i % 26)) + (i >= 26 ? String(Math.floor(i / 26)) : "");
  editPlan((x) => {
    x.sections = [...sectionSpans().map(({ start_bar, label: l }) => ({ start_bar, label: l })), { start_bar: bar, label }]
      .sort((a, b) => a.start_bar - b.start_bar);
  });
}

function addCut(t) {
  if (!state.controls || !(t > 0 && t < state.controls.duration_s)) return;
  editPlan((x) => { x.scene_cuts_s = [...x.scene_cuts_s, Math.round(t * 1000) / 1000].sort((a, b) => a - b); });
}

function deleteCut(index) {
  editPlan((x) => { x.scene_cuts_s = x.scene_cuts_s.filter((_, i) => i !== index); }, () => { state.picked = null; });
}

// A plan edit: applied to the controls, saved at once (the server may refit the grid or replan the chords), undoable.
function editPlan(change, after) {
  const before = JSON.stringify(state.controls);
  change(state.controls);
  if (after) after();
  if (before !== JSON.stringify(state.controls)) commit(before, true);
  renderAll();
}

// ---- edits, undo, save -------------------------------------------------------------------------

function commit(before, now = false) {
  state.undo.push(before);
  state.redo = [];
  if (now) save(); else scheduleSave();
  renderAll();
}

function restore(from, to) {
  if (!from.length) return;
  to.push(JSON.stringify(state.controls));
  state.controls = JSON.parse(from.pop());
  save();
  renderAll();
}

function scheduleSave() {
  clearTimeout(state.saveTimer);
  state.saveTimer = setTimeout(save, 250);
}

async function save() {
  clearTimeout(state.saveTimer);
  state.saveTimer = null;
  const id = state.project, sent = JSON.stringify(state.controls);
  try {
    const { controls } = await api(`/projects/${id}/controls`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: sent });
    if (id !== state.project) return;
    if (JSON.stringify(state.controls) === sent) state.controls = controls;  // else a newer edit is on its way
    status("controls saved");
    renderAll();
  } catch (err) {
    if (id !== state.project) return;
    status(`not saved: ${err.message}`, true);
    if (state.undo.length) { state.controls = JSON.parse(state.undo.pop()); renderAll(); }  // back to what the server holds
  }
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
}

// ---- the transport: the video rules, the take's audio follows ---------------------------------------

function seek(t) {
  const video = $("video");
  video.currentTime = Math.max(0, Math.min(t, (video.duration || state.controls?.duration_s || 0) - 0.01));
  followVideo(true);
}

function followVideo(force = false) {
  const video = $("video"), music = $("music");
  if (!music.getAttribute("src")) return;
  if (force || Math.abs(music.currentTime - video.currentTime) > DRIFT_S) music.currentTime = video.currentTime;
  if (video.paused && !music.paused) music.pause();
  if (!video.paused && !video.seeking && music.paused && !music.ended) music.play().catch(() => {});
}

function togglePlay() {
  const video = $("video");
  if (!video.getAttribute("src")) return;
  if (video.paused) video.play().catch((err) => status(`cannot play: ${err.message}`, true)); else video.pause();
}

function step(bars, beats = 0) {
  if (!state.controls) return;
  const t = $("video").currentTime, { edges } = barEdges();
  let b = barAtTime(t);
  if (b < 0) b = t < edges[0] ? 0 : state.controls.n_bars - 1;
  if (bars) {
    const into = t - edges[b] > 0.05;  // J goes to the start of this bar first, like a DAW
    seek(edges[Math.max(0, Math.min(state.controls.n_bars - 1, b + bars + (bars < 0 && into ? 1 : 0)))]);
  } else {
    const beatTimes = state.controls.beats.map((beat) => beat.time_s);
    const next = beats > 0 ? beatTimes.find((x) => x > t + 0.02) : [...beatTimes].reverse().find((x) => x < t - 0.02);
    if (next !== undefined) seek(next);
  }
}

function audibleFamilies(take) {
  const playing = (take && take.families) || [];
  const solo = playing.filter((f) => state.solo.has(f));
  return solo.length ? solo : playing.filter((f) => !state.muted.has(f));
}

// The take's audio: its WAV, or a mix of the audible families when some are muted or soloed.
function setMusic() {
  const music = $("music"), video = $("video");
  const take = state.takes.find((t) => t.id === state.current && t.status === "ready");
  if (!take) {
    if (music.getAttribute("src")) { music.pause(); music.removeAttribute("src"); music.load(); state.musicUrl = ""; }
    return;
  }
  const audible = audibleFamilies(take);
  music.muted = audible.length === 0;
  const url = audible.length === 0 || audible.length === take.families.length ? takeUrl(take.id, "soundtrack.wav")
    : takeUrl(take.id, `mix/${audible.join("+")}.wav`);
  if (url === state.musicUrl) return;
  state.musicUrl = url;
  music.src = url;
  music.currentTime = video.currentTime;
  music.onloadedmetadata = () => followVideo(true);
  if (!video.paused) music.play().catch(() => {});
}

function selectTake(id, play = false) {
  state.current = id;
  if (state.notesOf !== id) loadNotes(id);
  setMusic();
  if (play && $("video").paused) togglePlay();
  renderTakes(); renderTransport();
}

async function loadNotes(id) {
  state.notesOf = id; state.notes = null;
  if (!id) return;
  try {
    const { notes } = await api(`/projects/${state.project}/takes/${id}/notes`);
    if (state.notesOf === id) { state.notes = notes; drawPianoRoll(); }
  } catch (err) { status(err.message, true); }
}

function switchAB() {
  const [a, b] = state.abPair;
  if (!a || !b) return;
  selectTake(state.current === a ? b : a);
}

function tick() {
  const video = $("video");
  if (state.controls) {
    if (state.loop && state.selection && !video.paused) {
      const start = tickTime(state.selection[0]), end = tickTime(state.selection[1] + 1);
      if (video.currentTime >= Math.min(end, state.controls.duration_s) - 0.02 || video.currentTime < start - 0.25) seek(start);
    }
    followVideo();
    placePlayhead();
  }
  requestAnimationFrame(tick);
}

function placePlayhead() {
  const canvas = $("timeline"), t = $("video").currentTime;
  $("playhead").style.left = `${canvas.offsetLeft + 1 + view().x(t)}px`;
  const m = Math.floor(t / 60), s = t - 60 * m;
  $("clock").textContent = `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

function renderTransport() {
  const video = $("video"), take = state.takes.find((t) => t.id === state.current);
  $("play").textContent = video.paused ? "Play" : "Pause";
  $("loop").setAttribute("aria-pressed", String(state.loop));
  $("now-playing").textContent = take ? `take: ${takeTitle(take)}${state.abPair.includes(take.id) ? ` (${state.abPair[0] === take.id ? "A" : "B"})` : ""}` : "no take yet";
  $("ab-state").textContent = state.abPair[0] && state.abPair[1] ? `playing ${state.current === state.abPair[0] ? "A" : state.current === state.abPair[1] ? "B" : "neither"}` : "mark one take A and one B";
}

// ---- the piano roll -------------------------------------------------------------------------------

function familyColour(family) { return PALETTE[state.families.indexOf(family) % PALETTE.length]; }

function drawPianoRoll() {
  const canvas = $("pianoroll"), c = state.controls;
  if (!c) return;
  const v = view(), g = canvas.getContext("2d");
  canvas.width = v.width;
  g.clearRect(0, 0, canvas.width, canvas.height);
  sectionSpans().forEach((s, i) => {
    const x0 = v.x(tickTime(s.start_bar)), x1 = v.x(tickTime(s.end_bar));
    g.fillStyle = i % 2 ? "#f3f6fa" : "#fbfbf5"; g.fillRect(x0, 0, x1 - x0, canvas.height);
    g.fillStyle = "#99a"; g.font = "10px sans-serif"; g.fillText(s.label, x0 + 3, 11);
  });
  const notes = state.notes || [];
  if (!notes.length) {
    g.fillStyle = "#888"; g.font = "12px sans-serif";
    g.fillText(state.current ? "loading the take's notes…" : "the playing take's notes show here", 8, canvas.height / 2);
    return;
  }
  const pitches = notes.map((n) => n[1]);
  const low = Math.min(...pitches) - 1, high = Math.max(...pitches) + 1, rowH = (canvas.height - 14) / (high - low + 1);
  const take = state.takes.find((t) => t.id === state.current), audible = new Set(audibleFamilies(take));
  for (const [family, pitch, start, duration] of notes) {
    g.globalAlpha = audible.has(family) ? 0.9 : 0.15;
    g.fillStyle = familyColour(family);
    g.fillRect(v.x(start), 14 + (high - pitch) * rowH, Math.max(v.x(start + duration) - v.x(start), 1.5), Math.max(rowH, 1.5));
  }
  g.globalAlpha = 1;
}

function renderFamilies() {
  const take = state.takes.find((t) => t.id === state.current);
  $("families").replaceChildren(...state.families.map((family) => {
    const plays = take && (take.families || []).includes(family);
    const mute = element("button", { testid: `mute-${family}`, title: `mute ${family}`, disabled: !plays }, "M");
    const solo = element("button", { testid: `solo-${family}`, title: `solo ${family}`, disabled: !plays }, "S");
    mute.setAttribute("aria-pressed", String(state.muted.has(family)));
    solo.setAttribute("aria-pressed", String(state.solo.has(family)));
    mute.onclick = () => { toggle(state.muted, family); setMusic(); renderFamilies(); drawPianoRoll(); };
    solo.onclick = () => { toggle(state.solo, family); setMusic(); renderFamilies(); drawPianoRoll(); };
    const swatch = element("span", { className: "swatch" });
    swatch.style.background = familyColour(family);
    return element("span", { className: "family" }, swatch, mute, solo, ` ${family}`);
  }));
}

function toggle(set, value) { if (set.has(value)) set.delete(value); else set.add(value); }

// ---- takes -------------------------------------------------------------------------------------

function takeRequest(extra = {}) {
  const instruments = state.families.filter((f) => $(`instrument-${f}`).checked);
  return { seed: parseInt($("seed").value, 10) || 0, instruments, density_shift: parseInt($("density-shift").value, 10),
           strength_shift: parseInt($("strength-shift").value, 10), ...extra };
}

async function makeTake(extra) {
  try {
    if (state.saveTimer) await save();
    const { id } = await api(`/projects/${state.project}/takes`, jsonBody("POST", takeRequest(extra)));
    state.waitingFor = id;
    status("take queued");
    pollProject();
  } catch (err) { status(err.message, true); }
}

function updateTakes(takes) {
  state.takes = takes;
  const ready = takes.filter((t) => t.status === "ready");
  if (state.waitingFor && ready.some((t) => t.id === state.waitingFor)) { const id = state.waitingFor; state.waitingFor = null; selectTake(id); }
  if (state.current && !ready.some((t) => t.id === state.current)) state.current = null;
  if (!state.current && ready.length) selectTake(ready[ready.length - 1].id);
  state.abPair = state.abPair.map((id) => (ready.some((t) => t.id === id) ? id : null));
  setMusic();
}

const takeTitle = (take) => take.name || `#${state.takes.indexOf(take) + 1}`;

function renderTakes() {
  const list = $("takes");
  if (list.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;  // a name being typed
  const shown = JSON.stringify([state.takes, state.current, state.abPair, $("video").paused]);
  if (shown === state.takesShown) return;  // unchanged: keep the nodes (a click in progress stays on its target)
  state.takesShown = shown;
  list.replaceChildren(...state.takes.map((take) => {
    const item = element("li", { testid: "take", className: `${take.id === state.current ? "current" : ""} ${take.status}` });
    item.dataset.take = take.id;
    const star = element("button", { className: "star", testid: "star", title: take.starred ? "unstar" : "star" }, take.starred ? "★" : "☆");
    star.onclick = () => patchTake(take, { starred: !take.starred });
    const name = element("input", { testid: "take-name", value: take.name || "", placeholder: `take #${state.takes.indexOf(take) + 1}`,
                                    maxLength: 200, "aria-label": "take name" });
    name.onchange = () => patchTake(take, { name: name.value });
    const parent = take.from_take ? state.takes.find((t) => t.id === take.from_take) : null;
    const what = take.bars ? `bars ${take.bars[0]}–${take.bars[1]}${take.linked ? " (linked)" : ""} of ${parent ? takeTitle(parent) : "a deleted take"}, seed ${take.seed}`
      : `seed ${take.seed}${take.instruments.length < state.families.length ? `, ${take.instruments.join(" ")}` : ""}`;
    const p = take.progress;
    const progress = p && p.total ? ` ${p.stage} ${Math.round((100 * p.done) / p.total)} %` : "";
    const stateText = take.status === "ready" ? `${take.seconds} s` : `${take.status}${progress}${take.error ? `: ${take.error}` : ""}`;
    const head = element("div", { className: "take-head" }, star, name);
    const tools = element("div", { className: "take-tools" });
    if (take.status === "ready") {
      const playing = take.id === state.current && !$("video").paused;
      const play = element("button", { testid: "play" }, playing ? "Pause" : "Play");
      play.onclick = () => { if (take.id === state.current) togglePlay(); else selectTake(take.id, true); };
      const marks = ["A", "B"].map((letter, k) => {
        const mark = element("button", { testid: `mark-${letter.toLowerCase()}`, className: state.abPair[k] === take.id ? "on" : "",
                                          title: `compare as ${letter}` }, letter);
        mark.onclick = () => { state.abPair[k] = state.abPair[k] === take.id ? null : take.id; if (state.abPair[1 - k] === take.id) state.abPair[1 - k] = null; renderAll(); };
        return mark;
      });
      const downloads = element("details", {}, element("summary", {}, "files"),
        ...["soundtrack.mp4", "soundtrack.mid", "soundtrack.wav"].map((n) => link(take, n, n.split(".")[1])),
        ...(take.families || []).map((f) => link(take, `stems/${f}.wav`, f)));
      tools.append(play, ...marks, downloads);
    } else {
      tools.append(element("button", { testid: "play", disabled: true, title: "the take is not ready" }, "Play"));
    }
    const del = element("button", { testid: "delete", className: "danger", title: "delete this take" }, "Delete");
    del.onclick = async () => { if (await confirmTwice(del)) deleteTake(take); };
    tools.append(del);
    item.append(head, element("div", { className: "what" }, `${what} · ${stateText}`), tools);
    return item;
  }));
  renderParents();
}

function renderParents() {
  const select = $("parent"), ready = state.takes.filter((t) => t.status === "ready");
  const keep = select.value;
  select.replaceChildren(...ready.map((t) => new Option(takeTitle(t), t.id)));
  select.value = ready.some((t) => t.id === keep) && keep !== "" && select.dataset.chosen === "1" ? keep : state.current || "";
}

function link(take, path, label) {
  return element("a", { href: takeUrl(take.id, path), className: "download", download: "", testid: `download-${label}` }, label);
}

async function patchTake(take, change) {
  try {
    const updated = await api(`/projects/${state.project}/takes/${take.id}`, jsonBody("PATCH", change));
    Object.assign(take, updated);
    renderAll();
  } catch (err) { status(err.message, true); }
}

async function deleteTake(take) {
  try {
    await api(`/projects/${state.project}/takes/${take.id}`, { method: "DELETE" });
    if (state.current === take.id) { state.current = null; state.notes = null; state.notesOf = null; }
    status("take deleted");
    await pollProject();
  } catch (err) { status(err.message, true); }
}

function linkedPossible() {
  if (!state.selection || !state.controls) return false;
  const spans = sectionSpans(), [a, b] = state.selection;
  const holder = spans.find((s) => s.start_bar <= a && b < s.end_bar);
  return Boolean(holder && spans.some((s) => s !== holder && s.label === holder.label && s.start_bar + (b - holder.start_bar) < s.end_bar));
}

// ---- rendering -----------------------------------------------------------------------------------

function renderAll() {
  const ready = Boolean(state.controls);
  $("generate").disabled = !ready;
  $("undo").disabled = !state.undo.length;
  $("redo").disabled = !state.redo.length;
  $("ab-toggle").disabled = !(state.abPair[0] && state.abPair[1]);
  const s = state.selection;
  $("selection").textContent = s ? (s[0] === s[1] ? `bar ${s[0]}` : `bars ${s[0]}–${s[1]}`) : "none";
  $("regenerate").textContent = s ? `Regenerate bars ${s[0]}–${s[1]}` : "Regenerate selected bars";
  renderTakes();
  $("regenerate").disabled = !(ready && s && $("parent").value);
  const linked = linkedPossible();
  $("linked").disabled = !linked;
  if (!linked) $("linked").checked = false;
  renderTransport();
  if (!ready) {
    for (const id of ["sections", "chords", "cuts", "families"]) $(id).replaceChildren();
    $("plan-editor").replaceChildren();
    return;
  }
  $("key").value = state.controls.key || "";
  if (s && document.activeElement !== $("bar-tempo")) $("bar-tempo").value = barEdges().tempos[s[0]].toFixed(1);
  drawTimeline();
  renderLanes();
  renderPlanEditor();
  renderFamilies();
  drawPianoRoll();
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) &&
    !["checkbox", "range", "radio", "button"].includes(target.type);
}

function onKey(event) {
  const mod = event.ctrlKey || event.metaKey;
  if (isTyping(event.target)) return;
  const key = event.key.toLowerCase();
  if (mod && key === "z") { event.preventDefault(); if (event.shiftKey) restore(state.redo, state.undo); else restore(state.undo, state.redo); return; }
  if (mod && key === "y") { event.preventDefault(); restore(state.redo, state.undo); return; }
  if (mod || event.altKey) return;
  const actions = {
    " ": togglePlay, k: () => $("video").pause(), j: () => step(-1), l: () => step(1), arrowleft: () => (event.shiftKey ? step(-1) : step(0, -1)),
    arrowright: () => (event.shiftKey ? step(1) : step(0, 1)), home: () => seek(0), m: () => addCut($("video").currentTime),
    delete: () => state.picked?.kind === "cut" && deleteCut(state.picked.index), backspace: () => state.picked?.kind === "cut" && deleteCut(state.picked.index),
  };
  if (key in actions) { event.preventDefault(); actions[key](); }
}

// ---- wiring ------------------------------------------------------------------------------------

async function setup() {
  let info;
  try { info = await api("/info"); } catch (err) { status(err.message, true); $("empty").hidden = false; return; }
  state.families = info.families; state.keys = info.keys;
  $("key").replaceChildren(...info.keys.map((k) => new Option(k.replace(":maj", " major").replace(":min", " minor"), k)));
  $("instruments").replaceChildren(...state.families.map((f) => element("label", { className: "inline" },
    element("input", { type: "checkbox", checked: true, id: `instrument-${f}`, testid: `instrument-${f}` }), ` ${f} `)));
  for (const id of ["density-shift", "strength-shift"]) $(id).oninput = () => { $(`${id}-value`).textContent = $(id).value; };
  $("projects").onchange = () => loadProject($("projects").value);
  $("delete-project").onclick = deleteProject;
  $("open-path").onsubmit = (event) => {
    event.preventDefault();
    createProject(jsonBody("POST", { video: $("path").value.trim() }));
  };
  document.body.ondragover = (event) => { event.preventDefault(); document.body.classList.add("over"); };
  document.body.ondragleave = () => document.body.classList.remove("over");
  document.body.ondrop = (event) => {
    event.preventDefault(); document.body.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    createProject({ method: "POST", body: form });
  };
  $("timeline").addEventListener("mousedown", onTimelineDown);
  $("pianoroll").addEventListener("mousedown", (event) => seek(view().t(pointer(event, $("pianoroll")).x)));
  $("cuts").addEventListener("dblclick", (event) => addCut(view().t(event.clientX - $("cuts").getBoundingClientRect().left)));
  window.addEventListener("mousemove", onMove);
  window.addEventListener("mouseup", onUp);
  window.addEventListener("keydown", onKey);
  $("undo").onclick = () => restore(state.undo, state.redo);
  $("redo").onclick = () => restore(state.redo, state.undo);
  $("apply-tempo").onclick = setBarTempo;
  $("key").onchange = () => editPlan((x) => { x.key = $("key").value; });
  $("generate").onclick = () => makeTake();
  $("parent").onchange = () => { $("parent").dataset.chosen = "1"; };
  $("regenerate").onclick = () => makeTake({ from_take: $("parent").value, bars: state.selection, linked: $("linked").checked });
  $("ab-toggle").onclick = switchAB;
  $("play").onclick = togglePlay;
  $("loop").onclick = () => { state.loop = !state.loop; if (state.loop && state.selection) seek(tickTime(state.selection[0])); renderTransport(); };
  const video = $("video");
  for (const name of ["play", "pause", "seeking", "seeked", "ended"]) video.addEventListener(name, () => { followVideo(name !== "play" && name !== "pause"); renderTransport(); renderTakes(); });
  video.addEventListener("ratechange", () => { $("music").playbackRate = video.playbackRate; });
  window.addEventListener("resize", () => { if (state.controls) renderAll(); });
  requestAnimationFrame(tick);
  try { await refreshProjects(); } catch (err) { status(err.message, true); }
}

window.studio = {  // for scripted use and tests: where things are drawn, in canvas pixels
  barX: (b) => { const v = view(), { edges } = barEdges(); return (v.x(edges[b]) + v.x(edges[b + 1])) / 2; },
  timeX: (t) => view().x(t),
  laneY,
  state,
};
setup();
