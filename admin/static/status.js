// Ask before a change: a form with data-confirm submits only when the operator agrees.
// The server does not rely on this (the CSRF field guards every change).
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
