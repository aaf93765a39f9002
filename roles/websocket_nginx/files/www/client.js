// Client page: shows connection state and transport, echoes messages, sends broadcasts.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const log = (kind, text) => {
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = kind + ": " + text;
    $("log").prepend(item);
  };
  const socket = io({ path: "/socket.io/" });
  const showTransport = () => { $("transport").textContent = socket.io.engine ? socket.io.engine.transport.name : "-"; };

  socket.on("connect", () => {
    $("state").textContent = "connected";
    showTransport();
    socket.io.engine.once("upgrade", showTransport);
  });
  socket.on("disconnect", (reason) => { $("state").textContent = "disconnected (" + reason + ")"; });
  socket.on("connect_error", (err) => { $("state").textContent = "error: " + err.message; });
  socket.on("message", (data) => log("echo", typeof data === "string" ? data : JSON.stringify(data)));
  socket.on("broadcast", (data) => log("broadcast", typeof data === "string" ? data : JSON.stringify(data)));

  $("send").addEventListener("submit", (event) => {
    event.preventDefault();
    socket.send($("text").value);
    $("text").value = "";
  });
  $("broadcast").addEventListener("click", () => {
    if ($("text").value) socket.emit("broadcast", $("text").value);
  });
})();
