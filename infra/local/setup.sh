#!/usr/bin/env bash
# The Debian packages `make run` and `make test` need beyond Go, PostgreSQL
# and Terraform: bubblewrap, which seals each run's terraform off from the
# agent and the platform, and chromium, which the browser tests of the web
# pages drive headless. Installed with apt-get when running as root;
# otherwise this says what to install.
set -euo pipefail
# The Python tools the AWS tests use are not Debian packages: say so early.
for tool in moto_server cfn-lint; do
	command -v "$tool" >/dev/null 2>&1 ||
		echo "note: $tool is not on PATH; the AWS tests need it (pip install 'moto[server]' cfn-lint)" >&2
done
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "runplane needs these Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
	{ apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
command -v bwrap >/dev/null && command -v chromium >/dev/null
