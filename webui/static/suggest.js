/* vnsearch: search as you type, on the search page's box.

   A progressive enhancement: without this script (or with JavaScript off)
   the form works exactly as before. With it, the box becomes an ARIA 1.2
   combobox ("list autocomplete with manual selection") whose listbox shows
   completions from /api/suggest: arrow keys move through them, Enter or a
   click searches for the one chosen, Escape closes the list, and a polite
   live region says how many there are. Keystrokes are debounced and a
   newer keystroke aborts the request of an older one. The suggestions'
   HTML is never inserted as HTML: it is parsed in an inert document and
   only its text and <mark> elements are copied. Same origin only, no
   framework (CSP script-src 'self'). */
(function () {
  "use strict";

  var DELAY_MS = 120;
  var input = document.getElementById("q");
  if (!input || !input.form || !input.getAttribute("data-suggest") || !window.fetch ||
      !window.AbortController || !window.DOMParser) {
    return;
  }
  var form = input.form;
  var endpoint = input.getAttribute("data-suggest");
  var parser = new DOMParser();

  var list = document.createElement("ul");
  list.id = "q-suggestions";
  list.className = "suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Gợi ý tìm kiếm");
  list.hidden = true;
  input.parentNode.appendChild(list);

  var status = document.createElement("div");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  input.parentNode.appendChild(status);

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-haspopup", "listbox");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");

  var texts = [];     // the completions shown
  var active = -1;    // the one chosen with the arrow keys (-1: none)
  var timer = 0;
  var pending = null; // the AbortController of the request in flight

  function setActive(index) {
    var options = list.children;
    if (active >= 0 && options[active]) {
      options[active].setAttribute("aria-selected", "false");
    }
    active = index;
    if (active >= 0 && options[active]) {
      options[active].setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({block: "nearest"});
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function close() {
    setActive(-1);
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  function open() {
    if (texts.length) {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }
  }

  // The text of an escaped HTML fragment, with its <mark> elements kept.
  function appendMarked(parent, html) {
    var body = parser.parseFromString("<!doctype html><body>" + html, "text/html").body;
    Array.prototype.forEach.call(body.childNodes, function (node) {
      if (node.nodeType === 1 && node.nodeName === "MARK") {
        var mark = document.createElement("mark");
        mark.textContent = node.textContent;
        parent.appendChild(mark);
      } else {
        parent.appendChild(document.createTextNode(node.textContent));
      }
    });
  }

  function show(suggestions) {
    close();
    list.textContent = "";
    texts = [];
    suggestions.forEach(function (suggestion, i) {
      if (typeof suggestion.text !== "string" || typeof suggestion.html !== "string") {
        return;
      }
      var option = document.createElement("li");
      option.id = "q-suggestion-" + texts.length;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      appendMarked(option, suggestion.html);
      var index = texts.length;
      option.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the box
      });
      option.addEventListener("click", function () {
        choose(index);
      });
      list.appendChild(option);
      texts.push(suggestion.text);
    });
    status.textContent = texts.length ?
      texts.length + " gợi ý; dùng phím mũi tên lên, xuống để chọn, Enter để tìm" : "";
    open();
  }

  function choose(index) {
    input.value = texts[index];
    close();
    cancel();
    if (form.requestSubmit) {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function cancel() {
    window.clearTimeout(timer);
    if (pending) {
      pending.abort();
      pending = null;
    }
  }

  function ask() {
    cancel();
    var typed = input.value;
    if (!typed.trim()) {
      show([]);
      return;
    }
    var controller = new AbortController();
    pending = controller;
    fetch(endpoint + "?q=" + encodeURIComponent(typed), {
      signal: controller.signal, credentials: "same-origin", headers: {"Accept": "application/json"}
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (pending !== controller) {
        return; // a newer keystroke asked since
      }
      pending = null;
      if (body && Array.isArray(body.suggestions) && input.value === typed &&
          document.activeElement === input) {
        show(body.suggestions);
      }
    }).catch(function () {
      // aborted, offline or a server error: no list, the form still works
    });
  }

  input.addEventListener("input", function () {
    cancel();
    timer = window.setTimeout(ask, DELAY_MS);
  });

  input.addEventListener("keydown", function (event) {
    if (event.isComposing) {
      return; // an input method (Telex, VNI) is still composing a letter
    }
    var count = texts.length;
    switch (event.key) {
      case "ArrowDown":
      case "ArrowUp":
        if (!count) {
          return;
        }
        event.preventDefault();
        if (list.hidden) {
          open();
          setActive(event.key === "ArrowDown" ? 0 : count - 1);
        } else {
          var next = active + (event.key === "ArrowDown" ? 1 : -1);
          if (next >= count) {
            next = -1; // past the last: back in the box
          } else if (next < -1) {
            next = count - 1;
          }
          setActive(next);
        }
        break;
      case "Enter":
        if (!list.hidden && active >= 0) {
          event.preventDefault();
          choose(active);
        }
        break;
      case "Escape":
        if (!list.hidden) {
          event.preventDefault();
          close();
        }
        break;
      case "Tab":
        close();
        break;
    }
  });

  input.addEventListener("blur", close);
  form.addEventListener("submit", function () {
    cancel();
    close();
  });
})();
