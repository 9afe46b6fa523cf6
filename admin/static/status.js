// Ask before a change: a form with data-confirm submits only when the operator agrees.
// The server does not rely on this (the CSRF field guards every change).
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Times come in UTC; show them in the operator's own zone.
document.querySelectorAll("time[datetime]").forEach(function (node) {
  var at = new Date(node.getAttribute("datetime"));
  if (!isNaN(at)) {
    node.title = node.textContent;
    node.textContent = at.toLocaleString(undefined, {
      day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
  }
});
