package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 stores objects in one bucket.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// NewS3 returns a store on bucket.
func NewS3(client *s3.Client, bucket string) *S3 {
	return &S3{client: client, presign: s3.NewPresignClient(client), bucket: bucket}
}

// Put uploads with If-None-Match "*", so S3 itself refuses to overwrite.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), IfNoneMatch: aws.String("*"),
		ContentType: aws.String("application/octet-stream"),
	})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "PreconditionFailed" || apiErr.ErrorCode() == "ConditionalRequestConflict") {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	return nil
}

// PresignPut signs a request that creates key with exactly size bytes and
// only if it does not exist yet, so the holder of the URL can neither
// store more nor overwrite an object, its own included.
func (s *S3) PresignPut(ctx context.Context, key string, size int64, ttl time.Duration) (Request, error) {
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), ContentLength: aws.Int64(size),
		IfNoneMatch: aws.String("*"), ContentType: aws.String("application/octet-stream"),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return Request{}, fmt.Errorf("s3 presign put %s: %w", key, err)
	}
	return request(req.Method, req.URL, req.SignedHeader), nil
}

// PresignGet signs a request that reads key.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (Request, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return Request{}, fmt.Errorf("s3 presign get %s: %w", key, err)
	}
	return request(req.Method, req.URL, req.SignedHeader), nil
}

// request keeps the signed headers a client must send, except Host, which
// its HTTP library sets from the URL.
func request(method, url string, signed http.Header) Request {
	h := map[string]string{}
	for k, v := range signed {
		if !strings.EqualFold(k, "Host") && len(v) > 0 {
			h[k] = v[0]
		}
	}
	return Request{Method: method, URL: url, Header: h}
}

// Get downloads an object.
func (s *S3) Get(ctx context.Context, key string, size int64) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("s3 get %s: %w", key, err)
	}
	defer out.Body.Close()
	return readAll(out.Body, size)
}
