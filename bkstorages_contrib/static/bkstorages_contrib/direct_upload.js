// Uploads for bkstorages_contrib.forms.DirectUploadWidget: the chosen file goes
// straight to bk-repo with one PUT to a link the site's signing view hands out;
// the form then submits only the stored name (signed by the view).
(function () {
  "use strict";

  function csrfToken(form) {
    var field = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (field) {
      return field.value;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function setup(box) {
    var chooser = box.querySelector("input[type=file]");
    var stored = box.querySelector("input[type=hidden]");
    var status = box.querySelector(".direct-upload-status");
    var form = box.closest("form");
    var pending = 0;

    function say(text, state) {
      status.textContent = text;
      box.setAttribute("data-state", state);
    }

    chooser.addEventListener("change", function () {
      var file = chooser.files[0];
      stored.value = "";
      if (!file) {
        say("", "empty");
        return;
      }
      pending += 1;
      say("Uploading " + file.name + "\u2026", "uploading");
      var body = new FormData();
      body.append("filename", file.name);
      fetch(box.getAttribute("data-sign-url"), {
        method: "POST",
        body: body,
        headers: { "X-CSRFToken": csrfToken(form) },
        credentials: "same-origin",
      })
        .then(function (response) {
          return response.json().then(function (answer) {
            if (!response.ok) {
              throw new Error(answer.error || "the site refused to sign an upload");
            }
            return answer;
          });
        })
        .then(function (link) {
          // No credentials: the signed link is the only permission the PUT needs.
          return fetch(link.url, { method: "PUT", body: file, credentials: "omit" }).then(function (response) {
            if (!response.ok) {
              throw new Error("bk-repo answered " + response.status);
            }
            stored.value = link.signed_name;
            say("Stored as " + link.name, "done");
          });
        })
        .catch(function (error) {
          say("Upload failed: " + error.message, "failed");
        })
        .finally(function () {
          pending -= 1;
        });
    });

    if (form) {
      form.addEventListener("submit", function (event) {
        if (pending > 0) {
          event.preventDefault();
          say("Still uploading; submit again once it is stored.", "uploading");
        }
      });
    }
  }

  function setupAll() {
    document.querySelectorAll(".direct-upload").forEach(setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupAll);
  } else {
    setupAll();
  }
})();
