#!/usr/bin/env bash
# Installs what the tests need from Debian and npm when it is missing. Idempotent; prints what it does.
# `deps.sh ha` installs, in addition, what the high-availability topology needs (make ha,
# make ha-test): Patroni with its etcd client, and etcd.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ "${1:-}" = ha ]; then
  # Patroni runs on Debian's /usr/bin/python3; python3-etcd is its etcd client (one of several
  # alternatives apt would otherwise choose from).
  [ -x /usr/bin/patroni ] || need_apt+=(patroni)
  /usr/bin/python3 -c 'import etcd' 2>/dev/null || need_apt+=(python3-etcd)
  command -v etcd >/dev/null || need_apt+=(etcd-server)
fi
# Browser tests (chromedp) drive Debian's headless Chromium (the DejaVu font below renders text).
command -v chromium >/dev/null || need_apt+=(chromium)
# Documents: zbar reads QR codes back, qpdf checks PDF structure, pdftotext (poppler) extracts
# their text, and DejaVu Sans prints names outside Windows-1252.
command -v zbarimg >/dev/null || need_apt+=(zbar-tools)
command -v qpdf >/dev/null || need_apt+=(qpdf)
command -v pdftotext >/dev/null || need_apt+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

for dir in signing/testdata/jsverify; do
  if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules" ]; then
    echo "deps: npm ci in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
done
