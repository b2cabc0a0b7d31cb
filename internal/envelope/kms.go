package envelope

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
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

// NewKMS returns a provider for the KMS key keyID (id, ARN or alias).
func NewKMS(client KMSClient, keyID string) *KMS { return &KMS{client: client, keyID: keyID} }

// KeyID is the configured KMS key.
func (k *KMS) KeyID() string { return k.keyID }

// GenerateDataKey asks KMS for a new AES-256 data key bound to ec.
func (k *KMS) GenerateDataKey(ctx context.Context, ec Context) (DataKey, error) {
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(k.keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec,
	})
	if err != nil {
		return DataKey{}, fmt.Errorf("kms GenerateDataKey: %w", err)
	}
	return DataKey{Plaintext: out.Plaintext, Wrapped: out.CiphertextBlob}, nil
}

// Decrypt unwraps a data key with KMS; KMS refuses a different context.
func (k *KMS) Decrypt(ctx context.Context, wrapped []byte, ec Context) ([]byte, error) {
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob: wrapped, EncryptionContext: ec, KeyId: aws.String(k.keyID),
	})
	if err != nil {
		return nil, fmt.Errorf("kms Decrypt: %w", err)
	}
	return out.Plaintext, nil
}
