// Copy the new token; the readonly field stays selectable for browsers without the clipboard API.
document.addEventListener("click", function (e) {
  var button = e.target.closest("[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.dataset.copy);
  var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 2000); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
  } else {
    field.select();
    if (document.execCommand("copy")) done();
  }
});

// The new token is selected when its field takes focus, ready to copy by hand.
document.addEventListener("focusin", function (e) {
  if (e.target.matches("[data-select-on-focus]")) e.target.select();
});
