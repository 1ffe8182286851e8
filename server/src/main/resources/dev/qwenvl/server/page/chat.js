// The chat page: keeps the conversation in the page and resends it whole with each question, as OpenAI clients do.
"use strict";

const $ = (id) => document.getElementById(id);
const history = [];          // OpenAI messages sent so far
let attachments = [];        // data: URIs of the images for the next question
let controller = null;       // aborts the answer being streamed

function apiHeaders() {
  const headers = { "Content-Type": "application/json" };
  const key = localStorage.getItem("qwenvl-api-key");
  if (key) headers["Authorization"] = "Bearer " + key;
  return headers;
}

function showError(text) {
  $("error").textContent = text || "";
}

function addImages(files) {
  for (const file of files) {
    if (!file.type.startsWith("image/")) continue;
    const reader = new FileReader();
    reader.onload = () => { attachments.push(reader.result); renderAttachments(); };
    reader.readAsDataURL(file);
  }
}

function renderAttachments() {
  const box = $("attachments");
  box.replaceChildren();
  attachments.forEach((uri, i) => {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = uri;
    img.alt = "attached image " + (i + 1);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.title = "Remove";
    remove.onclick = () => { attachments.splice(i, 1); renderAttachments(); };
    fig.append(img, remove);
    box.append(fig);
  });
}

function bubble(role, text, images) {
  const div = document.createElement("div");
  div.className = "message " + role;
  for (const uri of images || []) {
    const img = document.createElement("img");
    img.src = uri;
    img.alt = "image";
    div.append(img);
  }
  const content = document.createElement("div");
  content.className = "content";
  content.textContent = text;
  div.append(content);
  $("messages").append(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

function statsLine(usage, timings) {
  const parts = [];
  if (usage) parts.push(usage.prompt_tokens + " prompt tokens, " + usage.completion_tokens + " generated");
  if (timings) {
    parts.push("prompt " + timings.prompt_ms.toFixed(0) + " ms");
    parts.push(timings.predicted_per_second.toFixed(1) + " tokens/s");
  }
  return parts.join(" · ");
}

const GROUNDING = /bbox_2d|point_2d|<\|box_start\|>/;
const PALETTE = ["#ff1744", "#2979ff", "#00c853", "#ffab00", "#d500f9", "#00b8d4"];

// The image a question is about: the first of the newest user message that has one.
function latestImage() {
  for (let i = history.length - 1; i >= 0; i--) {
    const parts = Array.isArray(history[i].content) ? history[i].content : [];
    const image = parts.find((p) => p.type === "image_url");
    if (history[i].role === "user" && image) return image.image_url.url;
  }
  return null;
}

// Asks the server where a grounding answer's boxes and points lie on the image (its original pixels, mapped back
// from the model's frame) and draws them over a copy of the image in the answer's bubble. Resolves to the count drawn.
async function showDetections(bubbleDiv, text, imageUri) {
  const response = await fetch("v1/detections", {
    method: "POST", headers: apiHeaders(),
    body: JSON.stringify({ text: text, image_url: { url: imageUri } }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error((body.error && body.error.message) || ("HTTP " + response.status));
  const found = body.detections.filter((d) => d.bbox_2d || d.point_2d);
  if (found.length === 0) return 0;
  const picture = new Image();
  picture.src = imageUri;
  await picture.decode();
  const canvas = document.createElement("canvas");
  canvas.className = "detections";
  canvas.width = body.image.original[0];
  canvas.height = body.image.original[1];
  const g = canvas.getContext("2d");
  g.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const line = Math.max(4, Math.round(Math.min(canvas.width, canvas.height) / 150));
  const labels = [];
  g.lineWidth = line;
  g.font = (line * 4) + "px system-ui, sans-serif";
  for (const d of found) {
    if (!labels.includes(d.label)) labels.push(d.label);
    g.strokeStyle = g.fillStyle = PALETTE[labels.indexOf(d.label) % PALETTE.length];
    let x, y;
    if (d.bbox_2d) {
      const [x1, y1, x2, y2] = d.bbox_2d;
      g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      [x, y] = [Math.min(x1, x2), Math.min(y1, y2)];
    } else {
      [x, y] = d.point_2d;
      g.beginPath();
      g.arc(x, y, line * 1.5, 0, 2 * Math.PI);
      g.fill();
    }
    if (d.label) g.fillText(d.label, x + line, Math.max(line * 4, y - line));
  }
  canvas.dataset.detections = String(found.length);
  bubbleDiv.insertBefore(canvas, bubbleDiv.querySelector(".content"));
  return found.length;
}
window.qwenvl = { showDetections: showDetections };

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

async function ask(event) {
  event.preventDefault();
  const text = $("prompt").value;
  if (!text.trim() && attachments.length === 0) return;
  showError("");
  const content = attachments.map((uri) => ({ type: "image_url", image_url: { url: uri } }));
  content.push({ type: "text", text: text });
  bubble("user", text, attachments);
  history.push({ role: "user", content: content });
  attachments = [];
  renderAttachments();
  $("prompt").value = "";

  const answer = bubble("assistant", "", []);
  const out = answer.querySelector(".content");
  const stats = document.createElement("div");
  stats.className = "stats";
  answer.append(stats);
  let reply = "";
  controller = new AbortController();
  setBusy(true);
  try {
    const response = await fetch("v1/chat/completions", {
      method: "POST", headers: apiHeaders(), signal: controller.signal,
      body: JSON.stringify({ messages: history, stream: true, stream_options: { include_usage: true } }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      if (response.status === 401) $("key-row").hidden = false;
      throw new Error((body.error && body.error.message) || ("HTTP " + response.status));
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = chunk.choices && chunk.choices[0];
        if (choice && choice.delta && choice.delta.content) {
          reply += choice.delta.content;
          out.textContent = reply;
          answer.scrollIntoView({ block: "end" });
        }
        if (chunk.usage || chunk.timings) stats.textContent = statsLine(chunk.usage, chunk.timings);
      }
    }
    const image = latestImage();
    if (GROUNDING.test(reply) && image) await showDetections(answer, reply, image);
  } catch (e) {
    if (e.name === "AbortError") {
      stats.textContent = "stopped";
    } else {
      showError(e.message);
    }
  } finally {
    controller = null;
    setBusy(false);
    answer.dataset.done = "true";
    history.push({ role: "assistant", content: reply });
  }
}

$("composer").addEventListener("submit", ask);
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("new-chat").addEventListener("click", () => {
  if (controller) controller.abort();
  history.length = 0;
  $("messages").replaceChildren();
});
$("file").addEventListener("change", (e) => { addImages(e.target.files); e.target.value = ""; });
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
$("api-key").addEventListener("change", (e) => localStorage.setItem("qwenvl-api-key", e.target.value));
document.addEventListener("paste", (e) => addImages(e.clipboardData ? e.clipboardData.files : []));
const composer = $("composer");
composer.addEventListener("dragover", (e) => { e.preventDefault(); composer.classList.add("dragging"); });
composer.addEventListener("dragleave", () => composer.classList.remove("dragging"));
composer.addEventListener("drop", (e) => {
  e.preventDefault();
  composer.classList.remove("dragging");
  addImages(e.dataTransfer.files);
});
fetch("v1/models", { headers: apiHeaders() }).then((r) => r.ok ? r.json() : null).then((m) => {
  if (m && m.data && m.data[0]) $("model").textContent = m.data[0].id;
}).catch(() => {});
