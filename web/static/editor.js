// The result page's editor: sliders and option thumbnails change the character, drawn by the
// real rig on the server (render.jpg); undo and redo; reset to the fitted values; save as a
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
  // The smallest size the server draws that covers `cssPixels` on this screen.
  const sizes = root.dataset.sizes.split(",").map(Number);
  function sizeFor(cssPixels) {
    return sizes.find((s) => s >= cssPixels * window.devicePixelRatio) ?? sizes.at(-1);
  }
  const pictureSize = sizeFor(picture.getBoundingClientRect().width);

  // --- the character: while a slider moves, one picture in flight, then the newest value's;
  // on release the released value's: the one in flight if it is that value, else a new one
  // at once, the superseded request cancelled -------------------------------------------------
  let inFlight = null;  // {url, controller}
  let wanted = null;  // {url, requested}: the picture to show after a release, until shown
  let shownUrl = picture.getAttribute("src");
  let shownBlob = null;
  function draw(release) {
    const url = query(options, pictureSize);
    if (release) wanted = { url, requested: performance.now() };
    if (inFlight && inFlight.url === url) return;  // on its way
    if (inFlight && !release && url !== shownUrl) return;  // dragging: one at a time
    if (inFlight) inFlight.controller.abort();  // superseded
    if (url === shownUrl) {
      if (release) record(url);
      return;
    }
    request(url);
  }
  async function request(url, attempt = 1) {
    const mine = { url, controller: new AbortController() };
    inFlight = mine;
    let shown;
    try {
      const response = await fetch(url, { signal: mine.controller.signal });
      if (!response.ok) throw response;
      shown = URL.createObjectURL(await response.blob());
      const loader = new Image();
      loader.src = shown;
      await loader.decode();
    } catch (failure) {
      if (shown) URL.revokeObjectURL(shown);
      if (inFlight === mine) inFlight = null;
      if (mine.controller.signal.aborted || attempt >= 3) return;
      // refused (429: over the player's budget) or lost: the released value is asked again
      const seconds = failure instanceof Response ? Number(failure.headers.get("Retry-After")) : 0;
      setTimeout(() => { if (!inFlight && wanted) request(wanted.url, attempt + 1); }, seconds * 1000 || 300);
      return;
    }
    if (inFlight !== mine) {  // superseded while it came
      URL.revokeObjectURL(shown);
      return;
    }
    inFlight = null;
    picture.src = shown;  // decoded already: on the page at once
    if (shownBlob) URL.revokeObjectURL(shownBlob);
    shownBlob = shown;
    shownUrl = url;
    record(url);
    draw(false);  // the slider moved on while this one was drawn: catch up with it
    pumpThumbs();
  }
  function record(url) {
    if (wanted && wanted.url === url) {
      timings.push({ url, requested: wanted.requested, shown: performance.now() });
      wanted = null;
    }
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
        const img = button.querySelector("img");
        thumbQueue.push([img, query(opts, sizeFor(img.getBoundingClientRect().width))]);
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
    loader.onload = () => {
      thumbBusy = false;
      img.src = url;
      pumpThumbs();
    };
    loader.onerror = () => {  // refused or lost: the thumbnail keeps its older picture
      thumbBusy = false;
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
