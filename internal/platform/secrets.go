package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// secretNames are the variables a function may be given as a Secrets
// Manager secret instead: <NAME>_SECRET_ARN names the secret, whose value
// is JSON with the key NAME (or the bare value).
var secretNames = []string{"DATABASE_URL", "RUNPLANE_ADMIN_TOKEN", "RUNPLANE_AGENT_TOKEN"}

// withSecrets returns getenv with the secrets it names by ARN read from
// Secrets Manager, each secret once, at start. The values then never sit
// in the function's configuration (readable with GetFunctionConfiguration),
// and a rotated secret reaches every instance started after the rotation,
// without a deployment. RUNPLANE_SECRETSMANAGER_ENDPOINT points the client
// at a compatible server (tests).
func withSecrets(ctx context.Context, getenv func(string) string, loadAWS func() (aws.Config, error)) (func(string) string, error) {
	values := map[string]string{}
	var client *secretsmanager.Client
	read := map[string]map[string]any{}
	for _, name := range secretNames {
		arn := getenv(name + "_SECRET_ARN")
		if arn == "" || getenv(name) != "" {
			continue
		}
		if client == nil {
			awsCfg, err := loadAWS()
			if err != nil {
				return nil, err
			}
			client = secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
				if e := getenv("RUNPLANE_SECRETSMANAGER_ENDPOINT"); e != "" {
					o.BaseEndpoint = aws.String(e)
				}
			})
		}
		doc, ok := read[arn]
		if !ok {
			out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
			if err != nil {
				return nil, fmt.Errorf("%s_SECRET_ARN: %w", name, err)
			}
			text := aws.ToString(out.SecretString)
			if json.Unmarshal([]byte(text), &doc) != nil {
				doc = map[string]any{name: strings.TrimSpace(text)}
			}
			read[arn] = doc
		}
		v, ok := doc[name].(string)
		if !ok || v == "" {
			return nil, fmt.Errorf("%s_SECRET_ARN: the secret has no string %q", name, name)
		}
		values[name] = v
	}
	return func(k string) string {
		if v, ok := values[k]; ok {
			return v
		}
		return getenv(k)
	}, nil
}
