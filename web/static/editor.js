// The result page's editor: sliders and option thumbnails change the character, drawn by the
// real rig on the server (render.webp); undo and redo; reset to the fitted values; save as a
// new version. Values travel as integers 0..1000 in the rig's spec order (see web/previews.py).
"use strict";

function setupEditor(root) {
  const picture = document.getElementById("character");
  const sliders = Array.from(root.querySelectorAll("#sliders input[type=range]"));
  const rows = Array.from(root.querySelectorAll(".option-row"));
  const byId = (id) => document.getElementById(id);
  const timings = [];  // {requested, shown, url}: release-to-picture times, read by bench/
  window.facefitEditor = { timings };

  const values = new Array(sliders.length).fill(500);
  const options = new Array(rows.length).fill(0);
  const fitted = { values: values.slice(), options: options.slice() };
  for (const input of sliders) {
    const i = Number(input.dataset.index);
    values[i] = Number(input.value);
    fitted.values[i] = Number(input.dataset.fitted);
  }
  for (const row of rows) {
    const g = Number(row.dataset.groupIndex);
    const pressed = row.querySelector(".option[aria-pressed=true]");
    options[g] = Number(pressed.dataset.index);
    fitted.options[g] = Number(row.querySelector(`.option[data-option="${row.dataset.fitted}"]`).dataset.index);
  }
  let version = Number(root.dataset.version);
  let saved = snapshot();
  const undo = [];
  const redo = [];

  function snapshot() { return JSON.stringify([values, options]); }
  function restore(state) {
    const [v, o] = JSON.parse(state);
    v.forEach((x, i) => { values[i] = x; });
    o.forEach((x, i) => { options[i] = x; });
  }
  function query(opts, size) {
    return `${root.dataset.renderUrl}?c=${values.join(",")}&d=${opts.join(",")}&s=${size}`;
  }

  // --- the character: one picture in flight while dragging; on release the released value's
  // picture, which is most often the one already in flight (the last move's) ------------------
  let inFlight = null;
  let wanted = null;
  let sent = 0;
  let shown = 0;
  function draw(release) {
    const url = query(options, 512);
    if (release) wanted = { url, requested: performance.now() };
    if (inFlight && (!release || inFlight.url === url)) return;
    if (url === picture.getAttribute("src")) {
      if (release) timings.push({ url, requested: wanted.requested, shown: performance.now() });
      wanted = null;
      return;
    }
    request(url);
  }
  function request(url) {
    const loader = new Image();
    const mine = ++sent;
    inFlight = { loader, url };
    loader.onload = () => {
      if (inFlight && inFlight.loader === loader) inFlight = null;
      if (mine > shown) {  // a picture that comes late never covers a newer one
        shown = mine;
        picture.src = url;
      }
      if (wanted && wanted.url === url) {
        timings.push({ url, requested: wanted.requested, shown: performance.now() });
        wanted = null;
      } else if (wanted && !inFlight) {
        request(wanted.url);  // released on another value while this one was drawn
        return;
      }
      pumpThumbs();
    };
    loader.onerror = () => { if (inFlight && inFlight.loader === loader) inFlight = null; };
    loader.src = url;
  }

  // --- thumbnails: every option on this character, loaded one at a time after the picture --
  let thumbQueue = [];
  let thumbBusy = false;
  let thumbTimer = null;
  function refreshThumbs() {
    thumbQueue = [];
    for (const row of rows) {
      const g = Number(row.dataset.groupIndex);
      for (const button of row.querySelectorAll(".option")) {
        const opts = options.slice();
        opts[g] = Number(button.dataset.index);
        thumbQueue.push([button.querySelector("img"), query(opts, 128)]);
      }
    }
    pumpThumbs();
  }
  function pumpThumbs() {
    if (thumbBusy || inFlight || !thumbQueue.length) return;
    const [img, url] = thumbQueue.shift();
    if (img.getAttribute("src") === url) { pumpThumbs(); return; }
    thumbBusy = true;
    const loader = new Image();
    loader.onload = loader.onerror = () => {
      thumbBusy = false;
      img.src = url;
      pumpThumbs();
    };
    loader.src = url;
  }
  function thumbsLater() {
    clearTimeout(thumbTimer);
    thumbTimer = setTimeout(refreshThumbs, 1500);
  }

  // --- showing the state ----------------------------------------------------------------------
  function show() {
    for (const input of sliders) {
      const i = Number(input.dataset.index);
      input.value = values[i];
      input.nextElementSibling.textContent = (values[i] / 1000).toFixed(2);
      input.closest(".control").classList.toggle("edited", values[i] !== fitted.values[i]);
    }
    for (const row of rows) {
      const g = Number(row.dataset.groupIndex);
      for (const button of row.querySelectorAll(".option")) {
        button.setAttribute("aria-pressed", String(Number(button.dataset.index) === options[g]));
      }
    }
    byId("undo").disabled = !undo.length;
    byId("redo").disabled = !redo.length;
    const dirty = snapshot() !== saved;
    byId("save").disabled = !dirty;
    root.classList.toggle("dirty", dirty);
  }
  function commit(before) {
    if (before === snapshot()) return;
    undo.push(before);
    redo.length = 0;
    show();
    draw(true);
    thumbsLater();
  }
  function step(from, to) {
    if (!from.length) return;
    to.push(snapshot());
    restore(from.pop());
    show();
    draw(true);
    thumbsLater();
  }

  let dragStart = null;
  for (const input of sliders) {
    const i = Number(input.dataset.index);
    input.addEventListener("input", () => {
      if (dragStart === null) dragStart = snapshot();
      values[i] = Number(input.value);
      input.nextElementSibling.textContent = (values[i] / 1000).toFixed(2);
      draw(false);
    });
    input.addEventListener("change", () => {
      const before = dragStart === null ? snapshot() : dragStart;
      dragStart = null;
      values[i] = Number(input.value);
      commit(before);
    });
  }
  for (const button of root.querySelectorAll("#sliders .reset")) {
    button.addEventListener("click", () => {
      const before = snapshot();
      const i = Number(button.parentElement.querySelector("input").dataset.index);
      values[i] = fitted.values[i];
      commit(before);
    });
  }
  for (const row of rows) {
    const g = Number(row.dataset.groupIndex);
    for (const button of row.querySelectorAll(".option")) {
      button.addEventListener("click", () => {
        const before = snapshot();
        options[g] = Number(button.dataset.index);
        commit(before);
      });
    }
  }
  byId("reset-all").addEventListener("click", () => {
    const before = snapshot();
    restore(JSON.stringify([fitted.values, fitted.options]));
    commit(before);
  });
  byId("undo").addEventListener("click", () => step(undo, redo));
  byId("redo").addEventListener("click", () => step(redo, undo));
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== "z") return;
    event.preventDefault();
    if (event.shiftKey) step(redo, undo); else step(undo, redo);
  });

  // --- saving: a new version, refused if another tab saved first ------------------------------
  function document_() {
    const continuous = {};
    for (const input of sliders) continuous[input.dataset.name] = values[Number(input.dataset.index)] / 1000;
    const discrete = {};
    for (const row of rows) discrete[row.dataset.group] = Number(options[Number(row.dataset.groupIndex)]);
    return { continuous, discrete };
  }
  byId("save").addEventListener("click", async () => {
    const status = byId("save-status");
    const state = snapshot();
    status.textContent = "saving…";
    const response = await fetch(root.dataset.saveUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf, Accept: "application/json" },
      body: JSON.stringify({ base_version: version, params: document_() }),
    });
    const body = await response.json();
    if (!response.ok) {
      status.textContent = `${body.error.message} (${body.error.code})`;
      status.dataset.code = body.error.code;
      return;
    }
    version = body.version;
    saved = state;
    status.dataset.code = "";
    status.innerHTML = "";
    status.append("saved as version ");
    const strong = document.createElement("strong");
    strong.id = "version";
    strong.textContent = String(version);
    status.append(strong);
    show();
  });
  root.facefitQuery = () => `c=${values.join(",")}&d=${options.join(",")}`;
  show();
  if (picture.complete) refreshThumbs(); else picture.addEventListener("load", refreshThumbs, { once: true });
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("editor");
  if (root) setupEditor(root);
});
