#!/usr/bin/env bash
# Downloads an official Linux x86_64 engine build (a zip holding one executable) and prints
# the executable's path; under GitHub Actions also sets the step output `bin`.
#
# Usage: .github/scripts/fetch-engine.sh URL DIR [REPO ASSET_REGEX]
#   URL         the zip, e.g. a godotengine/godot-builds release asset
#   DIR         where to unpack it
#   REPO ASSET_REGEX  when URL fails: the first asset of REPO's GitHub releases (newest
#               first) whose name matches ASSET_REGEX (jq regex), found through the GitHub
#               API (`gh`, authenticated by GH_TOKEN)
set -euo pipefail
url=${1:?usage: fetch-engine.sh URL DIR [REPO ASSET_REGEX]}
dir=${2:?usage: fetch-engine.sh URL DIR [REPO ASSET_REGEX]}
repo=${3:-}; regex=${4:-}

die() { echo "fetch-engine: $*" >&2; exit 1; }

mkdir -p "$dir"
zip=$dir/engine.zip
if ! curl -fsSL --retry 3 --retry-delay 5 -o "$zip" "$url"; then
  [[ -n $repo && -n $regex ]] || die "cannot download $url"
  echo "fetch-engine: $url failed; looking for /$regex/ in $repo's releases" >&2
  jq_regex=${regex//\\/\\\\}  # inside a jq string literal
  url=$(gh api --paginate "repos/$repo/releases" \
    --jq ".[].assets[] | select(.name | test(\"$jq_regex\")) | .browser_download_url" | awk 'NR == 1')
  [[ -n $url ]] || die "no asset of $repo matches /$regex/"
  curl -fsSL --retry 3 --retry-delay 5 -o "$zip" "$url" || die "cannot download $url"
fi
echo "fetch-engine: $url" >&2
unzip -q -o "$zip" -d "$dir"
rm -f "$zip"
# The executable: Godot_v4.3-stable_linux.x86_64, Redot_v4.3-stable_linux.x86_64, ...
bin=$(find "$dir" -type f -name '*linux*x86_64' ! -name '*.zip' | awk 'NR == 1')
[[ -n $bin ]] || die "no *linux*x86_64 executable in $url"
chmod +x "$bin"
"$bin" --headless --version >&2 || die "$bin does not run"
echo "$bin"
if [[ -n ${GITHUB_OUTPUT:-} ]]; then echo "bin=$bin" >>"$GITHUB_OUTPUT"; fi
