// Applies the reader's chosen theme before the page paints (loaded in <head>, no defer).
(function () {
  // Marks that scripts run, so CSS can show their controls from the first paint.
  document.documentElement.classList.add("js");
  try {
    var theme = localStorage.getItem("snakepit-theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage unavailable: the system preference applies */ }
})();
