// The Blindfold console's page script. No framework, no build step: it
// calls the console's own API (same origin) and never evaluates anything
// it receives; every value is written as text.
"use strict";

const csrf = document.querySelector('meta[name="blindfold-csrf"]').content;
const ownerOn = document.querySelector('meta[name="blindfold-owner"]').content === "on";
let ownerToken = "";
let lastReport = null;
let verified = false;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el("tr", null, cls);
  for (const c of cells) tr.appendChild(el("td", c));
  return tr;
}

function fill(tableId, rows) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows);
}

async function api(method, path, body, owner) {
  const headers = { "X-Blindfold-Csrf": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (owner) headers["Authorization"] = "Bearer " + ownerToken;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = { error: text }; }
  if (!r.ok) throw new Error((json && json.error) || r.status + " " + r.statusText);
  return json;
}

// Tabs.
for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("nav button")) o.classList.toggle("active", o === b);
    for (const s of document.querySelectorAll("section.tab")) s.classList.toggle("hidden", s.id !== b.dataset.tab);
    if (b.dataset.tab === "environment" && verified) loadEnvironment();
  });
}

// ---- Consumer: verify, then chat ----

function showVerification(report, refusedPcrs) {
  lastReport = report;
  verified = !!(report && report.verified);
  const state = $("enclave-state");
  const badge = $("enclave-badge");
  if (verified) {
    state.textContent = "verified: " + report.enclave + " — platform " + report.platform +
      ", trust basis " + report.trust_basis + ", appraisal " + report.appraisal.status;
    badge.textContent = "verified (" + report.trust_basis + ")";
  } else if (report) {
    state.textContent = "NOT verified, nothing will be sent: " + report.reason;
    badge.textContent = "NOT verified";
  } else {
    state.textContent = "not verified";
    badge.textContent = "no enclave verified";
  }
  state.className = "state " + (verified ? "good" : "bad");
  badge.className = "badge " + (verified ? "good" : "bad");
  $("chat-send").disabled = !verified;
  $("attest-download").disabled = !report;
  renderAttestation(report, refusedPcrs);
}

async function verifyEnclave() {
  const url = $("enclave-url").value.trim();
  $("enclave-state").textContent = "verifying " + url + " …";
  $("enclave-state").className = "state";
  $("chat-send").disabled = true;
  try {
    const answer = await api("POST", "/api/enclave/verify", { url });
    showVerification(answer.report, answer.refused_pcrs);
  } catch (e) {
    showVerification({ verified: false, enclave: url, reason: e.message });
  }
}
$("enclave-verify").addEventListener("click", verifyEnclave);
$("attest-new").addEventListener("click", verifyEnclave);

const conversation = [];

async function send() {
  const input = $("chat-input");
  const prompt = input.value;
  if (!prompt.trim() || !verified) return;
  $("chat-error").textContent = "";
  conversation.push({ role: "user", content: prompt });
  $("chat-log").appendChild(el("div", prompt, "msg user"));
  input.value = "";
  const answer = el("div", "", "msg assistant");
  $("chat-log").appendChild(answer);
  $("chat-send").disabled = true;
  let text = "";
  try {
    const r = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Blindfold-Csrf": csrf },
      body: JSON.stringify({ messages: conversation, max_tokens: 64 }),
      credentials: "same-origin",
    });
    if (!r.ok) {
      const j = await r.json().catch(() => ({}));
      throw new Error(j.error || r.statusText);
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffered.indexOf("\n\n")) >= 0) {
        const line = buffered.slice(0, cut);
        buffered = buffered.slice(cut + 2);
        if (!line.startsWith("data: ")) continue;
        const event = JSON.parse(line.slice(6));
        if (event.text) { text += event.text; answer.textContent = text; }
        if (event.error) throw new Error(event.error);
        if (event.done) answer.classList.add("done");
      }
    }
    conversation.push({ role: "assistant", content: text });
  } catch (e) {
    answer.remove();
    conversation.pop();
    $("chat-error").textContent = "refused: " + e.message;
  } finally {
    $("chat-send").disabled = !verified;
  }
}
$("chat-send").addEventListener("click", send);

// ---- Attestation ----

const BASIS = {
  development: "development: whoever holds the local platform CA (or the swtpm state) can forge this evidence; fine for trying Blindfold, not for secrets",
  hypervisor: "hypervisor: the cloud's virtual TPM vouches for the boot; the cloud provider's hypervisor is trusted, the operator is not",
  cvm: "cvm: confidential-VM hardware (SEV-SNP / TDX) vouches for the virtual TPM; not even the hypervisor can read the enclave's memory",
};

// Rows for the PCRs the reference names (differences highlighted); the
// other quoted PCRs are counted under the table.
function renderPcrs(pcrs) {
  const named = pcrs.filter((p) => p.status !== "not in reference");
  fill("attest-pcrs", named.map((p) =>
    row([p.pcr, p.bank, p.actual, p.expected.join(" or "), p.status],
      p.status === "differs" ? "differs" : "matches")));
  const others = pcrs.length - named.length;
  $("attest-pcrs-others").textContent = others
    ? others + " other quoted PCR values are not named by the reference, so they decide nothing."
    : "";
}

function renderAttestation(report, refusedPcrs) {
  const summary = $("attest-summary");
  summary.replaceChildren();
  renderPcrs(refusedPcrs || (report && report.pcrs) || []);
  if (!report) { fill("attest-firmware", []); fill("attest-runtime", []); $("attest-chain").replaceChildren(); return; }
  if (!report.verified) {
    summary.appendChild(el("p", "NOT verified: " + report.reason, "state bad"));
    if (refusedPcrs) summary.appendChild(el("p", "Below: the PCRs of a fresh quote from this enclave (signature and AK checked, not accepted) beside the reference."));
    fill("attest-firmware", []); fill("attest-runtime", []);
    $("attest-chain").replaceChildren();
    return;
  }
  summary.appendChild(el("p", "verified " + report.enclave + " on platform " + report.platform, "state good"));
  summary.appendChild(el("p", "trust basis — " + (BASIS[report.trust_basis] || report.trust_basis)));
  summary.appendChild(el("p", "session: TLS key " + report.binding.tls_leaf_spki_sha256.slice(0, 16) +
    "…, nonce " + (report.binding.nonce || "").slice(0, 16) + "…, reference " + report.reference +
    (report.reference_version ? " v" + report.reference_version : "")));
  const chain = $("attest-chain");
  chain.replaceChildren(...(report.chain || []).map((c) => {
    const card = el("div", null, "card");
    card.appendChild(el("div", c.subject, "subject"));
    card.appendChild(el("div", "issuer: " + c.issuer));
    card.appendChild(el("div", "valid " + c.not_before + " to " + c.not_after));
    card.appendChild(el("div", "SHA-256 " + c.sha256, "mono"));
    return card;
  }));
  fill("attest-firmware", (report.firmware_log || []).map((f) => row([f.pcr, f.bank, f.status])));
  fill("attest-runtime", (report.runtime_events || []).map((e, i) => {
    const { type, ...rest } = e;
    return row([i + 1, type, Object.entries(rest).map(([k, v]) => k + " " + v).join(", ")]);
  }));
}

$("attest-download").addEventListener("click", () => {
  const blob = new Blob([JSON.stringify(lastReport, null, 2)], { type: "application/json" });
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = "blindfold-verification.json";
  a.click();
  URL.revokeObjectURL(a.href);
});

// ---- Environment ----

async function loadEnvironment() {
  $("env-error").textContent = "";
  try {
    const env = await api("GET", "/api/enclave/environment");
    fill("env-attested", Object.entries(env.attested).map(([k, v]) => row([k, v])));
    fill("env-reported", Object.entries(env.reported).map(([k, v]) => row([k, v === null ? "—" : v])));
  } catch (e) {
    $("env-error").textContent = e.message;
  }
}
$("env-refresh").addEventListener("click", loadEnvironment);

// ---- Model owner ----

async function loadModels() {
  const models = await api("GET", "/api/owner/models", undefined, true);
  fill("models", models.map((m) => {
    const p = m.policy;
    const policy = !p ? "none" : p.error ? "unusable: " + p.error :
      "v" + p.version + " until " + p.expires + ", build reference v" + p.reference_version +
      (p.app_disk_root_hash ? ", app disk " + p.app_disk_root_hash.slice(0, 16) + "…" : "") +
      (p.allow_development ? ", development allowed" : "") +
      (p.names_current_key ? "" : " (names an old key: set a new one)");
    const tr = row([m.name, m.size + " bytes", m.sha256, m.key_id, policy]);
    const actions = el("td");
    const rotate = el("button", "Rotate key");
    rotate.addEventListener("click", () => startJob("POST", "/api/owner/models/" + encodeURIComponent(m.name) + "/rotate"));
    const del = el("button", "Delete", "danger");
    del.addEventListener("click", async () => {
      if (!confirm("Delete " + m.name + " from the store?")) return;
      await api("DELETE", "/api/owner/models/" + encodeURIComponent(m.name), undefined, true);
      loadModels();
    });
    actions.append(rotate, del);
    tr.appendChild(actions);
    return tr;
  }));
}

async function startJob(method, path, body) {
  $("seal-message").textContent = "";
  $("seal-message").className = "";
  try {
    const { job } = await api(method, path, body, true);
    pollJob(job);
  } catch (e) {
    $("seal-message").textContent = e.message;
    $("seal-message").className = "error";
  }
}

async function pollJob(id) {
  const jobs = await api("GET", "/api/owner/jobs", undefined, true);
  const job = jobs.find((j) => j.id === id);
  if (!job) return;
  const bar = $("seal-progress");
  bar.max = job.total || 1;
  bar.value = job.done;
  $("seal-message").textContent = job.state === "running"
    ? job.kind + " " + job.model + ": " + job.done + " / " + job.total + " bytes"
    : job.message;
  $("seal-message").className = job.state === "failed" ? "error" : job.state === "done" ? "done" : "";
  if (job.state === "running") setTimeout(() => pollJob(id), 250);
  else loadModels();
}

$("seal-go").addEventListener("click", () =>
  startJob("POST", "/api/owner/seal", { path: $("seal-path").value.trim(), name: $("seal-name").value.trim() }));

function referenceFields() {
  return { reference_path: $("policy-reference").value.trim(), publisher_key_path: $("policy-publisher").value.trim() };
}

$("policy-preview").addEventListener("click", async () => {
  $("policy-message").textContent = "";
  try {
    const r = await api("POST", "/api/owner/reference", referenceFields(), true);
    $("policy-root-hash").textContent = "build reference v" + r.version + " (publisher key " + r.publisher_key_id +
      "); app-disk root hash: " + (r.app_disk_root_hash || "none in this reference");
    fill("policy-pcrs", r.pcrs.map((p) => row([p.pcr, p.bank, p.values.join(" or ")])));
  } catch (e) {
    $("policy-message").textContent = e.message;
    $("policy-message").className = "error";
  }
});

$("policy-save").addEventListener("click", async () => {
  const name = $("policy-model").value.trim();
  try {
    const p = await api("POST", "/api/owner/models/" + encodeURIComponent(name) + "/policy", {
      ...referenceFields(),
      allow_development: $("policy-allow-dev").checked,
      expires_days: Number($("policy-days").value) || 30,
    }, true);
    $("policy-message").textContent = "policy v" + p.version + " for " + p.model + " (key " + p.key_id + ") until " + p.expires;
    $("policy-message").className = "done";
    loadModels();
  } catch (e) {
    $("policy-message").textContent = e.message;
    $("policy-message").className = "error";
  }
});

$("kms-export").addEventListener("click", async () => {
  try {
    const policy = await api("POST", "/api/owner/kms-policy", {
      ...referenceFields(), role_arn: $("kms-role").value.trim(), owner_account: $("kms-account").value.trim(),
    }, true);
    $("kms-output").textContent = JSON.stringify(policy, null, 2);
    $("kms-output").className = "";
  } catch (e) {
    $("kms-output").textContent = e.message;
    $("kms-output").className = "error";
  }
});

async function loadAudit() {
  try {
    const records = await api("GET", "/api/owner/audit", undefined, true);
    fill("audit", records.map((r) => row([r.time, r.model, r.key_id, r.platform || "—", r.verdict, r.reason],
      r.verdict === "released" ? "matches" : r.verdict === "refused" ? "differs" : "")));
  } catch (e) {
    fill("audit", [row(["", "", "", "", "", e.message])]);
  }
}
$("audit-refresh").addEventListener("click", loadAudit);

$("owner-unlock").addEventListener("click", async () => {
  ownerToken = $("owner-token").value.trim();
  try {
    const where = await api("GET", "/api/owner/check", undefined, true);
    $("owner-status").textContent = "unlocked: models in " + where.models;
    $("owner-status").className = "good";
    $("owner-pages").classList.remove("hidden");
    loadModels();
    loadAudit();
  } catch (e) {
    ownerToken = "";
    $("owner-status").textContent = e.message;
    $("owner-status").className = "error";
    $("owner-pages").classList.add("hidden");
  }
});

if (!ownerOn) {
  $("owner-off").classList.remove("hidden");
  $("owner-login").classList.add("hidden");
}

// The enclave already chosen, if any.
api("GET", "/api/enclave").then((current) => {
  if (current) { $("enclave-url").value = current.url; showVerification(current.report); }
}).catch(() => {});
