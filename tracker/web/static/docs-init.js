// Starts Swagger UI on /docs (an external file: the CSP allows no inline script).
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    requestInterceptor: function (request) {
      // A signed-in browser session must send its CSRF token on writes, as the pages' forms do.
      var token = root.getAttribute("data-csrf");
      if (token) { request.headers["X-CSRF-Token"] = token; }
      return request;
    }
  });
});
