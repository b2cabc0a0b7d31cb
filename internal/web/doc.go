// Package web serves the platform's pages: server-rendered HTML from the
// same services as the APIs, with a little JavaScript for live run logs and
// statuses (Server-Sent Events); templates and assets are embedded.
//
// Invariants:
//   - Every page and form declares its need in one route table and passes
//     the APIs' check (org.Service.Authorize) before it runs: a page shows
//     nothing its caller could not read through the API.
//   - The session is the caller's API token in an HttpOnly, SameSite=Strict
//     cookie (Secure under TLS), authenticated on every request, so a
//     revoked token signs out at once.
//   - Every form carries a CSRF token bound to the session; a POST without
//     it changes nothing.
//   - Pages run no inline script or style: the Content-Security-Policy
//     allows only the page's own origin.
package web
