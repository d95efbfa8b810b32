// Upload page: drag and drop, client-side type and size check. Job page: live progress.
"use strict";

const ACCEPTED = ["image/jpeg", "image/png", "image/webp"];

function setupUpload(form) {
  const input = form.querySelector("#photo");
  const zone = form.querySelector("#drop-zone");
  const message = form.querySelector("#client-error");
  const maxBytes = Number(form.dataset.maxBytes);

  function check() {
    const file = input.files[0];
    let problem = "";
    if (file && !ACCEPTED.includes(file.type)) {
      problem = "Please choose a JPEG, PNG or WebP photo.";
    } else if (file && file.size > maxBytes) {
      problem = `The photo is over ${Math.floor(maxBytes / 1048576)} MB.`;
    }
    message.textContent = problem;
    message.hidden = !problem;
    return !problem;
  }

  input.addEventListener("change", check);
  form.addEventListener("submit", (event) => { if (!check()) event.preventDefault(); });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      check();
    }
  });
}

function setupProgress(section) {
  const byId = (id) => document.getElementById(id);
  async function poll() {
    let job;
    try {
      const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } });
      job = await response.json();
    } catch (error) {
      setTimeout(poll, 2000);
      return;
    }
    byId("status").textContent = job.status;
    const p = job.progress;
    byId("iteration").textContent = p.iteration;
    if (p.max_iterations) byId("progress").max = p.max_iterations;
    byId("progress").value = p.iteration;
    byId("similarity").textContent = p.similarity == null ? "–" : p.similarity.toFixed(3);
    if (job.status === "succeeded") {
      window.location.assign(section.dataset.resultUrl);
    } else if (job.status === "failed" || job.status === "cancelled") {
      const box = byId("job-error");
      box.textContent = job.error ? `${job.error.message} (${job.error.code})` : job.status;
      box.dataset.code = job.error ? job.error.code : job.status;
      box.hidden = false;
      byId("progress").value = 0;
    } else {
      setTimeout(poll, 1000);
    }
  }
  if (!["failed", "cancelled"].includes(section.dataset.status)) poll();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (form) setupUpload(form);
  const job = document.getElementById("job");
  if (job) setupProgress(job);
});
