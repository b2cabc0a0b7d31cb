// Package awskms is the AWS KMS key provider for envelope encryption. It
// lives apart from envelope so that what seals and opens objects (the
// agent does too) carries no AWS SDK.
package awskms

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/runplane/runplane/internal/envelope"
)

// KMSClient is the part of the AWS KMS client the provider uses.
type KMSClient interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMS makes data keys with AWS KMS under one symmetric master key.
type KMS struct {
	client KMSClient
	keyID  string
}

// New returns a provider for the KMS key keyID (id, ARN or alias).
func New(client KMSClient, keyID string) *KMS { return &KMS{client: client, keyID: keyID} }

// KeyID is the configured KMS key.
func (k *KMS) KeyID() string { return k.keyID }

// GenerateDataKey asks KMS for a new AES-256 data key bound to ec.
func (k *KMS) GenerateDataKey(ctx context.Context, ec envelope.Context) (envelope.DataKey, error) {
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(k.keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec,
	})
	if err != nil {
		return envelope.DataKey{}, fmt.Errorf("kms GenerateDataKey: %w", err)
	}
	return envelope.DataKey{Plaintext: out.Plaintext, Wrapped: out.CiphertextBlob}, nil
}

// Decrypt unwraps a data key with KMS; KMS refuses a different context.
func (k *KMS) Decrypt(ctx context.Context, wrapped []byte, ec envelope.Context) ([]byte, error) {
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob: wrapped, EncryptionContext: ec, KeyId: aws.String(k.keyID),
	})
	if err != nil {
		return nil, fmt.Errorf("kms Decrypt: %w", err)
	}
	return out.Plaintext, nil
}
