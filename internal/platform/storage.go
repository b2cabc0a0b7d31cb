package platform

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/envelope/awskms"
)

// Storage says where sealed state goes and which master key wraps its data
// keys. Empty S3Bucket: a folder under DataDir; empty KMSKeyID: a key file
// under DataDir. The endpoints point the AWS clients at S3- or KMS-compatible
// servers (tests, other clouds); empty means AWS itself.
type Storage struct {
	DataDir     string
	S3Bucket    string
	S3Endpoint  string
	KMSKeyID    string
	KMSEndpoint string
}

// StorageFromEnv reads the storage settings from the environment.
func StorageFromEnv(getenv func(string) string) Storage {
	return Storage{
		DataDir:    getenv("RUNPLANE_DATA_DIR"),
		S3Bucket:   getenv("RUNPLANE_S3_BUCKET"),
		S3Endpoint: getenv("RUNPLANE_S3_ENDPOINT"),
		KMSKeyID:   getenv("RUNPLANE_KMS_KEY_ID"), KMSEndpoint: getenv("RUNPLANE_KMS_ENDPOINT"),
	}
}

// dataKeyCacheTTL bounds how long an unwrapped data key stays in memory.
const dataKeyCacheTTL = 5 * time.Minute

// awsConfig loads the AWS SDK's configuration once, when first needed:
// storage and the events queue share it.
func awsConfig(ctx context.Context) func() (aws.Config, error) {
	return sync.OnceValues(func() (aws.Config, error) {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return cfg, fmt.Errorf("AWS configuration: %w", err)
		}
		return cfg, nil
	})
}

func (s Storage) open(loadAWS func() (aws.Config, error)) (blob.Store, *envelope.Cache, error) {
	if (s.S3Bucket == "" || s.KMSKeyID == "") && s.DataDir == "" {
		return nil, nil, errors.New("no storage configured: set RUNPLANE_S3_BUCKET and RUNPLANE_KMS_KEY_ID, or RUNPLANE_DATA_DIR")
	}
	var awsCfg aws.Config
	if s.S3Bucket != "" || s.KMSKeyID != "" {
		var err error
		if awsCfg, err = loadAWS(); err != nil {
			return nil, nil, err
		}
	}
	var blobs blob.Store
	if s.S3Bucket != "" {
		client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if s.S3Endpoint != "" {
				o.BaseEndpoint = aws.String(s.S3Endpoint)
				o.UsePathStyle = true
			}
		})
		blobs = blob.NewS3(client, s.S3Bucket)
	} else {
		folder, err := blob.NewFolder(filepath.Join(s.DataDir, "blobs"))
		if err != nil {
			return nil, nil, err
		}
		blobs = folder
	}
	var keys envelope.Provider
	if s.KMSKeyID != "" {
		client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
			if s.KMSEndpoint != "" {
				o.BaseEndpoint = aws.String(s.KMSEndpoint)
			}
		})
		keys = awskms.New(client, s.KMSKeyID)
	} else {
		local, err := envelope.OpenLocalKey(filepath.Join(s.DataDir, "keys", "state.key"))
		if err != nil {
			return nil, nil, err
		}
		keys = local
	}
	return blobs, envelope.NewCache(keys, dataKeyCacheTTL, 10_000), nil
}
