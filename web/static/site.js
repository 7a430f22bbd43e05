// The only script of the pages: a submit button is disabled once its form is sent, so a double click
// sends one request (the server is idempotent anyway). Pages work without it.
document.addEventListener("submit", function (event) {
  var form = event.target;
  window.setTimeout(function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  }, 0);
});
