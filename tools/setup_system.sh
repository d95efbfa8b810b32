#!/usr/bin/env bash
# Installs the Debian packages facefit needs, only those that are missing.
#   libegl1 libgl1-mesa-dri : offscreen OpenGL (Mesa llvmpipe) for the rig's rasterizer
#   chromium chromium-driver: the browser the end-to-end tests drive
#   wrk                     : HTTP load generator used by bench/
#   nodejs npm              : `npm ci` of package.json (three.js for the editor's 3D view, the
#                             glTF validator of the tests)
#   nginx gettext-base      : the edge in front of the web app and Flower (`make run`), and the
#                             envsubst that renders its configuration
#   postgresql redis-server : only where the machine has no database or broker yet
set -euo pipefail
packages=(libegl1 libgl1-mesa-dri chromium chromium-driver wrk nginx gettext-base)
command -v npm >/dev/null || packages+=(nodejs npm)
command -v pg_ctlcluster >/dev/null || packages+=(postgresql)
command -v redis-server >/dev/null || packages+=(redis-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing system packages: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
