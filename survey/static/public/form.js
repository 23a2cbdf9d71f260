/* Progressive enhancement only: the form works without this file.
   - keeps a draft of the answers in localStorage (a citizen may close the tab in the queue);
   - sends with fetch and retries with the same submission UUID when the network fails. */
(function () {
  "use strict";
  var form = document.getElementById("sipas-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var key = "sipas-draft-" + form.getAttribute("data-draft");
  var status = document.getElementById("send-status");
  var texts = document.documentElement.lang === "en"
    ? { retry: "No connection. Your answers are kept; retrying…", sending: "Sending…" }
    : { retry: "Mất kết nối. Câu trả lời vẫn được giữ; đang gửi lại…", sending: "Đang gửi…" };

  function save() {
    var data = {};
    new FormData(form).forEach(function (value, name) {
      if (name === "lang") { return; }
      (data[name] = data[name] || []).push(value);
    });
    try { localStorage.setItem(key, JSON.stringify(data)); } catch (e) { /* private mode */ }
  }

  function restore() {
    var data;
    try { data = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { data = null; }
    if (!data) { return; }
    if (form.hasAttribute("data-returned")) { return; } /* the server sent answers back: they win */
    Object.keys(data).forEach(function (name) {
      var values = data[name];
      form.querySelectorAll("[name='" + name + "']").forEach(function (el) {
        if (el.type === "radio" || el.type === "checkbox") {
          el.checked = values.indexOf(el.value) !== -1;
        } else if (el.type !== "hidden" || name === "token" || name === "submission") {
          el.value = values[0];
        }
      });
    });
  }

  function send(body, attempt) {
    status.textContent = attempt ? texts.retry : texts.sending;
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (resp) { return resp.text().then(function (html) { return [resp, html]; }); })
      .then(function (pair) {
        if (pair[0].status >= 500) { throw new Error("server " + pair[0].status); }
        if (pair[0].ok) { try { localStorage.removeItem(key); } catch (e) { /* ignore */ } }
        document.open(); document.write(pair[1]); document.close();
      })
      .catch(function () {
        setTimeout(function () { send(body, attempt + 1); }, Math.min(30000, 2000 * (attempt + 1)));
      });
  }

  restore();
  form.addEventListener("change", save);
  form.addEventListener("input", save);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    save();
    form.querySelector("button[type=submit]").disabled = true;
    send(new FormData(form), 0);
  });
}());
