// /docs: Swagger UI on this service's own OpenAPI document. A file, not an inline script, so
// the page's Content-Security-Policy can forbid inline scripts.
"use strict";

window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No "Try it out" request may leave for another host, and no validator badge either (it
    // would ask validator.swagger.io about the document).
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
