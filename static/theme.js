// Applies the reader's chosen theme before the page paints (loaded in <head>, no defer).
(function () {
  try {
    var theme = localStorage.getItem("snakepit-theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage unavailable: the system preference applies */ }
})();
