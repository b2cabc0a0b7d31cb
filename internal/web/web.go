package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/workspace"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Services are what the pages read and change, the APIs' own.
type Services struct {
	Orgs       *org.Service
	Workspaces *workspace.Service
	Runs       *run.Service
	State      *state.Service
	Configs    *configversion.Service
	Jobs       *jobs.Service
	Triggers   *trigger.Service
	Policies   *policy.Service
	// Key binds CSRF tokens to sessions; empty: a random key per process.
	Key []byte
	// PoolSize is how many agents the platform runs at most (0: no cap),
	// from which the pool view reckons each organization's fair share.
	PoolSize int
}

// Key derives the CSRF key from a platform secret, so that every process
// holding it accepts the forms any of them served.
func Key(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("runplane web csrf v1"))
	return m.Sum(nil)
}

// cookieName holds the session: the caller's API token.
const cookieName = "runplane_session"

type ui struct {
	Services
	pages map[string]*template.Template
}

// handler is a page or a form, called once its caller is authorized.
type handler func(http.ResponseWriter, *http.Request, org.Principal) error

// route is a page or form and what it needs, as in the APIs' tables.
type route struct {
	pattern string
	need    org.Need
	on      func(*ui, *http.Request, org.Principal) (uuid.UUID, error)
	h       handler
}

// New returns the pages as an http.Handler for "/", "/signin", "/app/"
// and "/static/".
func New(s Services) http.Handler {
	if len(s.Key) == 0 {
		s.Key = make([]byte, 32)
		_, _ = rand.Read(s.Key)
	}
	u := &ui{Services: s, pages: parsePages()}
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", u.home)
	mux.HandleFunc("GET /signin", u.signInPage)
	mux.HandleFunc("POST /signin", u.signIn)
	mux.HandleFunc("POST /signout", u.signOut)
	for _, rt := range u.routes() {
		mux.Handle(rt.pattern, u.authenticated(rt))
	}
	return secureHeaders(mux)
}

func (u *ui) routes() []route {
	member := org.Need{Scope: org.ScopeMember}
	owner := org.Need{Scope: org.ScopeOwner}
	anyone := org.Need{Scope: org.ScopeAnyone}
	ws := func(l org.Level) org.Need { return org.OnWorkspace(l) }
	return []route{
		{"GET /app", anyone, nil, u.organizations},
		{"GET /app/orgs/{org}", member, nil, u.organization},
		{"POST /app/orgs/{org}/workspaces", owner, nil, u.createWorkspace},
		{"GET /app/orgs/{org}/graph", member, nil, u.triggerGraph},
		{"GET /app/orgs/{org}/settings", member, nil, u.settings},
		{"GET /app/workspaces/{id}", ws(org.LevelRead), workspacePath, u.workspace},
		{"POST /app/workspaces/{id}/configuration", ws(org.LevelPlan), workspacePath, u.uploadConfiguration},
		{"POST /app/workspaces/{id}/runs", ws(org.LevelPlan), workspacePath, u.createRun},
		{"GET /app/workspaces/{id}/state", ws(org.LevelRead), workspacePath, u.stateVersions},
		{"POST /app/workspaces/{id}/state/{sv}/rollback", ws(org.LevelWrite), workspacePath, u.rollback},
		{"GET /app/runs/{id}", ws(org.LevelRead), runPath, u.run},
		{"GET /app/runs/{id}/stream", ws(org.LevelRead), runPath, u.stream},
		{"POST /app/runs/{id}/confirm", ws(org.LevelWrite), runPath, u.fire(run.EventConfirm)},
		{"POST /app/runs/{id}/discard", ws(org.LevelWrite), runPath, u.fire(run.EventDiscard)},
		{"POST /app/runs/{id}/cancel", ws(org.LevelWrite), runPath, u.fire(run.EventCancel)},
		{"POST /app/runs/{id}/override", ws(org.LevelAdmin), runPath, u.fire(run.EventOverride)},
	}
}

func workspacePath(u *ui, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return id, workspace.ErrNotFound
	}
	w, err := u.Workspaces.Get(r.Context(), p.OrgID, id)
	return w.ID, err
}

func runPath(u *ui, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return id, run.ErrNotFound
	}
	rn, err := u.Runs.Get(r.Context(), p.OrgID, id)
	return rn.WorkspaceID, err
}

// authenticated serves rt to a signed-in caller its need admits; a form
// also needs the session's CSRF token.
func (u *ui) authenticated(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		p, err := u.Orgs.Authenticate(r.Context(), c.Value)
		if err == nil && p.Scoped() {
			err = org.ErrUnauthorized
		}
		if err != nil {
			clearSession(w, r)
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(u.csrf(c.Value))) {
			u.fail(w, r, p, errCSRF)
			return
		}
		p, err = u.Orgs.Authorize(r.Context(), p, rt.need, func() (uuid.UUID, error) { return rt.on(u, r, p) })
		if err == nil {
			err = rt.h(w, r.WithContext(audit.WithActor(r.Context(), p.Actor(r.RemoteAddr))), p)
		}
		if err != nil {
			u.fail(w, r, p, err)
		}
	})
}

var errCSRF = fault.New(fault.Forbidden, "forbidden", "this form is stale or was not made by Runplane; reload the page and try again")

// csrf is the session's form token: only pages served to the session
// carry it.
func (u *ui) csrf(session string) string {
	m := hmac.New(sha256.New, u.Key)
	m.Write([]byte("csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// fail answers an error as a page, with the status the API would use.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, p org.Principal, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong; the server log says what."
	if f, ok := fault.Of(err); ok {
		status, msg = statusOf(f.Kind), err.Error()
	} else {
		slog.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
	}
	u.render(w, r, status, "error", page{Principal: p, Title: http.StatusText(status), Data: msg})
}

func statusOf(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return http.StatusBadRequest
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict, fault.Locked:
		return http.StatusConflict
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// page is what every template gets.
type page struct {
	Principal org.Principal
	Title     string
	CSRF      string
	// Org is the organization the page is in, for the navigation.
	Org  string
	Data any
}

// render writes a page whole, so an error in a template is a 500, not
// half a page.
func (u *ui) render(w http.ResponseWriter, r *http.Request, status int, name string, pg page) {
	if c, err := r.Cookie(cookieName); err == nil {
		pg.CSRF = u.csrf(c.Value)
	}
	if pg.Org == "" {
		pg.Org = pg.Principal.OrgName
	}
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, "layout", pg); err != nil {
		slog.ErrorContext(r.Context(), "rendering a page failed", "page", name, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"ansi":  func(s string) template.HTML { return template.HTML(ansiHTML(s)) },
		"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"short": func(id uuid.UUID) string { return id.String()[:8] },
		"words": waitWords,
		"can":   func(p org.Principal, level string) bool { l, _ := org.ParseLevel(level); return p.Level >= l },
	}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return out
}

// waitWords says a run's wait reason in plain words.
func waitWords(w run.WaitReason) string {
	return map[run.WaitReason]string{
		run.WaitWorkspaceBusy:   "waiting for the run ahead of it on this workspace",
		run.WaitWorkspaceLocked: "waiting for the workspace to be unlocked",
		run.WaitStateLocked:     "waiting for someone's terraform to release the state lock",
		run.WaitAdmission:       "about to start",
		run.WaitAgent:           "waiting for a free agent",
		run.WaitAgentPool:       "waiting for an agent of the organization's own pool",
		run.WaitUpstream:        "waiting for the upstream workspaces' runs to finish",
		run.WaitCapacity:        "waiting for the organization's share of agents (at its cap or out of tokens)",
		run.WaitApproval:        "waiting for someone to confirm the plan",
		run.WaitPolicyCheck:     "policies are checking the plan",
		run.WaitPolicyOverride:  "a policy failed: waiting for an admin to override or discard",
	}[w]
}

// secureHeaders sets what every page answers with: no inline script or
// style, no framing, no sniffing, no referrer across origins.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

func (u *ui) home(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		if _, err := u.Orgs.Authenticate(r.Context(), c.Value); err == nil {
			http.Redirect(w, r, "/app", http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (u *ui) signInPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "signin", page{Title: "Sign in"})
}

// signIn takes a token from the form and keeps it as the session. The form
// needs no CSRF token: signing someone in as yourself gains nothing, and
// SameSite=Strict keeps the cookie off other sites' requests.
func (u *ui) signIn(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, err := u.Orgs.Authenticate(r.Context(), token)
	if err == nil && p.Scoped() {
		err = org.ErrUnauthorized
	}
	if err != nil {
		u.render(w, r, http.StatusUnauthorized, "signin", page{Title: "Sign in", Data: "That token is not valid (revoked, expired or mistyped)."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: overTLS(r),
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	http.Redirect(w, r, "/app", http.StatusSeeOther)
}

// signOut ends the session; like every form it needs the session's CSRF
// token, so another site cannot sign a user out.
func (u *ui) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil && !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(u.csrf(c.Value))) {
		u.fail(w, r, org.Principal{}, errCSRF)
		return
	}
	clearSession(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: overTLS(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// overTLS reports whether the browser reached us over TLS: directly, or
// through API Gateway or a load balancer that ends TLS and says so.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}
