#!/usr/bin/env bash
# Browser tests need Debian's chromium (Playwright is pointed at it, never downloads its own).
# Installs it when missing and we are allowed to (root with apt); otherwise the browser tests skip.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium; browser tests will be skipped"
fi
