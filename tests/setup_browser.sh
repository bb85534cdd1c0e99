#!/usr/bin/env bash
# Browser tests (tests/browser/) need Debian's chromium: Playwright is pointed at it and never
# downloads a browser of its own. Installs it when missing and we are allowed to (root, or
# password-less sudo, with apt-get); otherwise says so, and the browser tests skip with that reason
# (or fail, where WORKBENCH_REQUIRE_BROWSER is set, as .ci/run does).
# `make test` runs this first and carries on whatever it returns.

found="$(command -v chromium || command -v chromium-browser || true)"
if [ -x /usr/bin/chromium ] || [ -n "$found" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_browser: chromium is missing and there is no apt-get here; browser tests will be skipped (or fail, where WORKBENCH_REQUIRE_BROWSER is set, as on CI)" >&2
  exit 1
fi
if [ "$(id -u)" = "0" ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
else
  echo "setup_browser: chromium is missing; install it as root (sudo bash tests/setup_browser.sh," \
       "or apt-get install chromium); browser tests will be skipped (or fail, where WORKBENCH_REQUIRE_BROWSER is set, as on CI)" >&2
  exit 1
fi

echo "setup_browser: installing Debian's chromium for the browser tests (apt-get install chromium)..." >&2
if $as_root apt-get update -qq >/dev/null \
   && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
  echo "setup_browser: $(/usr/bin/chromium --version 2>/dev/null | tail -n 1) installed" >&2
else
  echo "setup_browser: could not install chromium; browser tests will be skipped (or fail, where WORKBENCH_REQUIRE_BROWSER is set, as on CI)" >&2
  exit 1
fi
