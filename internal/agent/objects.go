package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agentapi"
)

// acceptObject asks the server to answer a large object with a grant to
// fetch it from storage rather than with its bytes.
var acceptObject = map[string]string{"Accept": agentapi.ObjectDownloadType + ", */*"}

// isGrant tells whether an answer is an agentapi.ObjectDownload.
func isGrant(h http.Header) bool {
	t, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return t == agentapi.ObjectDownloadType
}

// fetch GETs one of the job's inputs; a large one comes straight from
// storage when the server grants it.
func (c *client) fetch(ctx context.Context, path string, lease uuid.UUID) ([]byte, error) {
	r, err := c.retrySend(ctx, "GET", path, lease, acceptObject, nil, nil)
	if err != nil || !isGrant(r.header) {
		return r.body, err
	}
	var g agentapi.ObjectDownload
	if err := json.Unmarshal(r.body, &g); err != nil {
		return nil, fmt.Errorf("GET %s: the grant: %w", path, err)
	}
	return download(ctx, c.http, g)
}

// store PUTs one of the job's artifacts; a large one goes straight into
// storage when the server grants it, else through the API.
func (c *client) store(ctx context.Context, path string, lease uuid.UUID, body []byte) error {
	if len(body) > agentapi.LargeObject {
		req, _ := json.Marshal(agentapi.ObjectUploadRequest{Size: int64(len(body))})
		var g agentapi.ObjectUpload
		r, err := c.retrySend(ctx, "POST", path+"/objects", lease, nil, req, &g)
		if err == nil {
			commit, err := upload(ctx, c.http, g, body)
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(commit)
			_, err = c.retry(ctx, "PUT", path+"/objects/"+g.ObjectID.String(), lease, raw, nil)
			return err
		}
		if !noDirectTransfer(r) {
			return err
		}
	}
	_, err := c.retry(ctx, "PUT", path, lease, body, nil)
	return err
}

// noDirectTransfer: the server's storage takes objects through the API only.
func noDirectTransfer(r reply) bool {
	return r.status == http.StatusConflict && bytes.Contains(r.body, []byte(`"`+agentapi.CodeNoDirectTransfer+`"`))
}

// download fetches a granted object from storage and opens it.
func download(ctx context.Context, hc *http.Client, g agentapi.ObjectDownload) ([]byte, error) {
	r, err := retrying(ctx, "GET object "+g.ObjectID.String(), func() (reply, error) {
		req, err := http.NewRequestWithContext(ctx, g.Method, g.URL, nil)
		if err != nil {
			return reply{}, err
		}
		for k, v := range g.Header {
			req.Header.Set(k, v)
		}
		return exchange(hc, req, nil)
	})
	if err != nil {
		return nil, err
	}
	return g.Open(r.body)
}

// upload seals body for g and puts it into storage.
func upload(ctx context.Context, hc *http.Client, g agentapi.ObjectUpload, body []byte) (agentapi.ObjectCommit, error) {
	sealed, commit, err := g.Seal(body)
	if err != nil {
		return commit, err
	}
	_, err = retrying(ctx, "PUT object "+g.ObjectID.String(), func() (reply, error) {
		req, err := http.NewRequestWithContext(ctx, g.Method, g.URL, bytes.NewReader(sealed))
		if err != nil {
			return reply{}, err
		}
		for k, v := range g.Header {
			req.Header.Set(k, v)
		}
		req.ContentLength = int64(len(sealed))
		r, err := exchange(hc, req, nil)
		if r.status == http.StatusPreconditionFailed {
			// The object exists: an earlier attempt stored it and its
			// answer was lost. The commit checks what lies there.
			return r, nil
		}
		return r, err
	})
	if err != nil {
		return commit, fmt.Errorf("upload to storage: %w", err)
	}
	return commit, nil
}
