#!/usr/bin/env bash
# Writes the edge's password file for Flower from FLOWER_BASIC_AUTH (user:password, several
# separated by commas, as Flower reads it), with salted SHA-1 hashes ({SSHA}, which nginx
# reads), readable by its owner only. Bash and coreutils alone: it also runs as an entrypoint
# script of the official nginx image (docker compose), where nothing else is installed.
#   FLOWER_BASIC_AUTH=admin:secret deploy/nginx/htpasswd.sh var/nginx/flower.htpasswd
# FACEFIT_HTPASSWD_OWNER, if set, becomes the file's owner (nginx's worker user).
set -euo pipefail
out=${1:-${FACEFIT_FLOWER_HTPASSWD:?name the password file}}
if [[ -z ${FLOWER_BASIC_AUTH:-} ]]; then
  echo "set FLOWER_BASIC_AUTH=user:password (Flower is only served behind it)" >&2
  exit 1
fi

ssha() {  # {SSHA} of a password: base64(sha1(password + salt) + salt)
  local password=$1 salt hex
  salt=$(head -c 32 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 12)
  hex=$(printf '%s%s' "$password" "$salt" | sha1sum | cut -d' ' -f1)
  printf '{SSHA}%s' "$({ printf "$(sed 's/../\\x&/g' <<<"$hex")"; printf '%s' "$salt"; } | base64 -w0)"
}

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
(umask 077; : >"$tmp")
IFS=',' read -ra pairs <<<"$FLOWER_BASIC_AUTH"
for pair in "${pairs[@]}"; do
  if [[ $pair != *:* || -z ${pair%%:*} ]]; then
    echo "FLOWER_BASIC_AUTH: expected user:password" >&2
    rm -f "$tmp"
    exit 1
  fi
  printf '%s:%s\n' "${pair%%:*}" "$(ssha "${pair#*:}")" >>"$tmp"
done
[[ -n ${FACEFIT_HTPASSWD_OWNER:-} ]] && chown "$FACEFIT_HTPASSWD_OWNER" "$tmp"
mv -f "$tmp" "$out"
