// A plain chat client for openai-proxy-java: streams answers from POST / (stream: true) and renders
// each Server-Sent Event as it arrives; generates images through POST /images/generations.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const log = $("log"), errorBox = $("error"), status = $("status");
  const conversation = [];
  let busy = false;

  // The proxy is this page's own origin, or one of the URLs whoever deployed the page listed in
  // <meta name="openai-proxy-urls">. ?proxy=... and the settings field only choose among those: a link
  // must not be able to point a user's chat at another server.
  const own = location.origin;
  // By default the proxy is where the page is mounted: /chat/ of the origin, or of a servlet context path
  // (/shop/chat/ talks to /shop).
  const mount = location.pathname.match(/^(.*)\/chat(\/[^/]*)?$/);
  const home = own + (mount ? mount[1] : "");
  const normalize = (url) => {
    try {
      const u = new URL(url, location.href);
      if ((u.protocol !== "http:" && u.protocol !== "https:") || u.username || u.password || u.search || u.hash) {
        return null;
      }
      return (u.origin + u.pathname).replace(/\/+$/, "");
    } catch (_) {
      return null;
    }
  };
  const listed = ((document.querySelector('meta[name="openai-proxy-urls"]') || {}).content || "")
    .split(/[\s,]+/).map(normalize).filter(Boolean);
  const permitted = (url) => {
    // An empty field means "this origin": resolved against the page's URL it would be the page's own path
    // (/chat), which is not the proxy.
    if (!url) return null;
    const n = normalize(url);
    return n !== null && (n === own || n.startsWith(own + "/") || listed.includes(n)) ? n : null;
  };
  const params = new URLSearchParams(location.search);
  $("proxy-url").value = params.get("proxy") || localStorage.getItem("proxyUrl") || "";
  const proxy = () => permitted($("proxy-url").value.trim()) || home;
  const checkProxyUrl = () => {
    const wanted = $("proxy-url").value.trim();
    if (wanted && !permitted(wanted)) {
      showError(`Proxy URL ${wanted} is not listed for this page; using ${home}. ` +
        "List it in the page's <meta name=\"openai-proxy-urls\"> to use it.");
    }
  };
  $("proxy-url").addEventListener("change", (e) => {
    localStorage.setItem("proxyUrl", e.target.value.trim());
    clearError();
    checkProxyUrl();
  });
  checkProxyUrl();

  function setBusy(value, text) {
    busy = value;
    $("send").disabled = value;
    $("generate").disabled = value;
    status.textContent = text || (value ? "working…" : "idle");
    status.classList.toggle("busy", value);
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function bubble(kind, text) {
    const hint = log.querySelector(".hint");
    if (hint) hint.remove();
    const el = document.createElement("div");
    el.className = "msg " + kind;
    el.dataset.testid = kind;
    el.textContent = text || "";
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  // Turns a failed response into a readable sentence, whatever the error shape.
  async function describeFailure(response) {
    let detail = "";
    try {
      const body = await response.json();
      const e = body.error;
      detail = typeof e === "object" && e ? e.message : [e, body.message].filter(Boolean).join(": ");
    } catch (_) {
      detail = response.statusText;
    }
    return `The proxy answered ${response.status}${detail ? ": " + detail : ""}`;
  }

  function networkFailure(err) {
    return `Could not reach the proxy at ${proxy()} (${err.message}). ` +
      "If it is running, this page's origin may not be allowed by its CORS settings.";
  }

  // Reads an SSE body event by event; calls onData with each event's data text.
  async function readEvents(response, onData) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n|\r\r/)) >= 0) {
        const raw = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^(\r?\n\r?\n|\r\r)/, "");
        const data = raw.split(/\r?\n|\r/).filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(l.startsWith("data: ") ? 6 : 5)).join("\n");
        if (data && onData(data) === false) return;
      }
    }
  }

  async function sendMessage(text) {
    clearError();
    conversation.push({ role: "user", content: text });
    bubble("user", text);
    const answer = bubble("assistant streaming", "");
    setBusy(true, "streaming…");
    const body = { messages: conversation, stream: true };
    const model = $("model").value.trim();
    if (model) body.model = model;
    let reply = "";
    try {
      const response = await fetch(proxy() + "/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(await describeFailure(response));
      await readEvents(response, (data) => {
        if (data === "[DONE]") return false;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error("The stream failed: " + (chunk.error.message || chunk.error));
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          reply += delta.content;
          answer.textContent = reply;
          log.scrollTop = log.scrollHeight;
        }
      });
      conversation.push({ role: "assistant", content: reply });
    } catch (err) {
      conversation.pop(); // the failed turn is not part of the conversation
      answer.classList.add("failed");
      answer.textContent = reply || "No answer.";
      showError(err instanceof TypeError ? networkFailure(err) : err.message);
    } finally {
      answer.classList.remove("streaming");
      setBusy(false);
    }
  }

  async function generateImage(prompt) {
    clearError();
    bubble("user", "Image: " + prompt);
    const holder = bubble("image", "Generating…");
    setBusy(true, "generating…");
    try {
      const response = await fetch(proxy() + "/images/generations", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt }),
      });
      if (!response.ok) throw new Error(await describeFailure(response));
      const result = await response.json();
      holder.textContent = prompt;
      for (const item of result.data || []) {
        const img = document.createElement("img");
        img.alt = item.revised_prompt || prompt;
        img.dataset.testid = "generated-image";
        // A link the proxy stored the image under is relative to the proxy's origin, which need not be this page's.
        img.src = item.url ? new URL(item.url, proxy() + "/").href : "data:image/png;base64," + item.b64_json;
        holder.appendChild(img);
      }
    } catch (err) {
      holder.classList.add("failed");
      holder.textContent = "No image.";
      showError(err instanceof TypeError ? networkFailure(err) : err.message);
    } finally {
      setBusy(false);
    }
  }

  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message").value.trim();
    if (!text || busy) return;
    $("message").value = "";
    sendMessage(text);
  });
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("image-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const prompt = $("image-prompt").value.trim();
    if (!prompt || busy) return;
    $("image-prompt").value = "";
    generateImage(prompt);
  });
  $("new-chat").addEventListener("click", () => {
    conversation.length = 0;
    log.replaceChildren();
    clearError();
  });
})();
