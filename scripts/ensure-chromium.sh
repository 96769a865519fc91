#!/usr/bin/env bash
# Browser tests drive Debian's Chromium at /usr/bin/chromium (Playwright cannot
# download its own browser here). Install it when missing and we are root.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests (one time, about 30 s)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
cat >&2 <<'MSG'
The browser tests need Debian's Chromium at /usr/bin/chromium and it is not installed.
Install it as root with:

    sudo apt-get update && sudo apt-get install -y chromium

then run `make test` again. (`make test-fast` runs everything except the browser journeys.)
MSG
exit 1
