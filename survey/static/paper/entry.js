/* Paper form entry: check codes as they are typed, Enter moves on, Enter on the last saves.
   Only an aid: the server checks every code again and has the last word. */
(function () {
  "use strict";
  var DAMM = ["0317598642", "7092154863", "4206871359", "1750983426", "6123045978",
              "3674209581", "5869720134", "8945362017", "9438617205", "2581436790"];
  var box = document.getElementById("paper-messages");

  function message(name, values) {
    var text = (box && box.getAttribute("data-msg-" + name)) || name;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }

  function damm(digits) {
    var interim = 0;
    for (var i = 0; i < digits.length; i++) { interim = +DAMM[interim].charAt(+digits.charAt(i)); }
    return interim;
  }

  /* --- the serial box --- */
  var serialForm = document.getElementById("serial-form");
  if (serialForm) {
    var serial = document.getElementById("serial");
    var serialError = document.getElementById("serial-error");
    var checkSerial = function (final) {
      var digits = serial.value.replace(/[\s.\-]/g, "");
      var bad = /^\d{9}$/.test(digits) && damm(digits) !== 0;
      serialError.textContent = bad ? message("check", {value: digits}) : (final ? "" : serialError.textContent);
      serial.setAttribute("aria-invalid", bad ? "true" : "false");
      return !bad;
    };
    serial.addEventListener("input", function () { checkSerial(true); });
    serialForm.addEventListener("submit", function (event) {
      if (!checkSerial(true)) { event.preventDefault(); serial.focus(); }
    });
    serial.focus();  /* ready for the next form, also after the confirmation */
    serial.select();
  }

  /* --- the codes --- */
  var form = document.getElementById("entry-form");
  if (!form) { return; }
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input[data-kind]"));
  var byItem = {};
  inputs.forEach(function (input) { byItem[input.getAttribute("data-item")] = input; });

  function tokens(input) {
    var value = input.value.trim();
    if (!value) { return []; }
    var parts = value.split(/[\s,;+\/]+/).filter(Boolean);
    var codes = input.getAttribute("data-codes").split(" ");
    if (input.getAttribute("data-kind") === "multi" && parts.length === 1 && /^\d+$/.test(parts[0]) &&
        codes.length <= 9) {
      parts = parts[0].split("");
    }
    return parts;
  }

  function applies(input) {
    var when = input.getAttribute("data-when");
    if (!when) { return true; }
    when = JSON.parse(when);
    var source = byItem[when.item];
    if (!source || source.disabled) { return false; }
    var typed = tokens(source).map(function (t) { return String(+t === +t ? +t : t); });
    if (!typed.length) { return false; }
    var hit = typed.some(function (t) { return when.values.indexOf(t) >= 0; });
    return when.op === "not_in" ? !hit : hit;
  }

  function problem(input) {
    var kind = input.getAttribute("data-kind");
    var value = input.value.trim();
    if (!value || kind === "text") { return ""; }
    if (kind === "number") {
      var min = +input.getAttribute("data-min"), max = +input.getAttribute("data-max");
      return /^[+-]?\d+$/.test(value) && +value >= min && +value <= max ? "" : message("number", {min: min, max: max});
    }
    var codes = input.getAttribute("data-codes").split(" ");
    var parts = tokens(input);
    if (kind === "coded" && parts.length !== 1) { parts = [value]; }
    for (var i = 0; i < parts.length; i++) {
      if (codes.indexOf(String(+parts[i] === +parts[i] ? +parts[i] : parts[i])) < 0) {
        return message("code", {value: parts[i], allowed: input.getAttribute("data-allowed")});
      }
    }
    var most = input.getAttribute("data-max");
    if (kind === "multi" && most && parts.length > +most) { return message("many", {n: most}); }
    return "";
  }

  function echo(input) {
    var out = document.getElementById("echo-" + input.getAttribute("data-item"));
    if (!out) { return; }
    var labels = JSON.parse(input.getAttribute("data-labels") || "{}");
    out.textContent = tokens(input).map(function (t) { return labels[String(+t === +t ? +t : t)] || ""; })
      .filter(Boolean).join("; ");
  }

  function check(input) {
    var text = input.disabled ? "" : problem(input);
    var error = document.getElementById("err-" + input.getAttribute("data-item"));
    if (error) { error.textContent = text; }
    input.setAttribute("aria-invalid", text ? "true" : "false");
    input.closest("tr").classList.toggle("invalid", !!text);
    echo(input);
    return !text;
  }

  function refresh() {
    inputs.forEach(function (input) {
      var on = applies(input);
      input.disabled = !on;
      input.closest("tr").classList.toggle("skipped", !on);
    });
  }

  function next(from) {
    for (var i = inputs.indexOf(from) + 1; i < inputs.length; i++) {
      if (!inputs[i].disabled) { return inputs[i]; }
    }
    return null;
  }

  inputs.forEach(function (input) {
    input.addEventListener("input", function () { refresh(); check(input); });
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      if (!check(input)) { return; }
      var after = next(input);
      if (after) { after.focus(); after.select(); } else if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    });
  });

  form.addEventListener("submit", function (event) {
    refresh();
    var bad = inputs.filter(function (input) { return !check(input); });
    if (bad.length) {
      event.preventDefault();
      bad[0].focus();
    }
  });

  refresh();
  inputs.forEach(function (input) { if (input.value) { check(input); } });
  var first = inputs.filter(function (i) { return !i.disabled; })[0];
  if (first) { first.focus(); }
}());
