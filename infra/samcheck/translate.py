"""Translate template.yaml with the SAM translator, as CloudFormation's
AWS::Serverless transform does, and print the resulting template as JSON.

Usage: python3 infra/samcheck/translate.py template.yaml '{"Param": "value", ...}'
The functions' CodeUri (a folder, for sam build) is replaced by an S3 URI,
as sam package does before the transform runs.
"""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    # The template names managed policies by ARN only, never by name.
    def load(self):
        return {}


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(sys.argv[1]) as f:
        template = yaml_parse(f.read())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://deployment-bucket/function.zip"
    parameters = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    json.dump(transform(template, parameters, NoManagedPolicies()), sys.stdout, default=str)


if __name__ == "__main__":
    main()
