#!/usr/bin/env bash
# A Debian bookworm base image made without any registry: debootstrap from the Debian
# mirror this host's apt uses, the host's extra CA certificates trusted, then `docker
# import`. The stand-in images (python, postgres, s3) start FROM it.
#
#   docker/standins/debian-base.sh [TAG]        (as root; needs debootstrap)
#
# DEBIAN_MIRROR overrides the mirror read from /etc/apt/sources.list*; nothing host-
# specific is written into the repository, only into the image.
set -euo pipefail
tag=${1:-cnn-ladder-standin/debian:bookworm}

sources() {  # "URI SUITE" for each deb source of the host's apt (one-line and deb822 forms)
  cat /etc/apt/sources.list 2>/dev/null | awk '$1 == "deb" {print $2, $3}' || true
  for file in /etc/apt/sources.list.d/*.list; do
    [ -e "$file" ] && awk '$1 == "deb" {print $2, $3}' "$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -e "$file" ] && awk '/^URIs:/ {uri=$2} /^Suites:/ {for (i = 2; i <= NF; i++) print uri, $i}' "$file"
  done
}
mirror=${DEBIAN_MIRROR:-$(sources | awk '$2 == "bookworm" {print $1; exit}')}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(sources | awk '$2 == "bookworm-security" {print $1; exit}')

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >/dev/null
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  [ -z "$security" ] || echo "deb $security bookworm-security main"
} >"$root/etc/apt/sources.list"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" update-ca-certificates >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# Every TLS client in the stand-ins (pip, boto3, apt) trusts what the host trusts.
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV LANG=C.UTF-8 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "$tag"
