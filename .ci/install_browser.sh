#!/usr/bin/env bash
# Install Debian's Chromium (for the real-browser tests and kaleido's PNG export) and a Korean
# font (fonts-noto-cjk, so exported images show Hangul, not boxes). Idempotent: does nothing when
# both are already there. Never downloads playwright's own browsers.
#
#   .ci/install_browser.sh            # as root (CI) or with sudo available
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=ko family 2>/dev/null)" ]; then
  need+=(fonts-noto-cjk fontconfig)
fi
# DejaVu is the reference font *without* Hangul in the PNG glyph test
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)

if [ ${#need[@]} -eq 0 ]; then
  echo "install_browser: chromium and a Korean font are already installed"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  command -v fc-cache >/dev/null 2>&1 && $SUDO fc-cache -f >/dev/null || true
fi

path="$(command -v chromium || command -v chromium-browser)"
"$path" --version 2>/dev/null | head -1 || true
echo "install_browser: chromium at $path; Korean fonts: $(fc-list :lang=ko family | head -1)"
