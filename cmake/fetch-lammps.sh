#!/usr/bin/env bash
# Fetches and unpacks the LAMMPS source of a Debian suite with `apt-get source`, through a
# private sources list so that the system's apt configuration is never touched.
#
#   fetch-lammps.sh DEST [SUITE]     (SUITE defaults to bookworm)
#
# Prints the path of the unpacked tree's src/ folder (what LAMMPS_SOURCE_DIR expects).
# Safe to re-run: an unpacked tree with its stamp is reused without network access.
set -euo pipefail

dest=${1:?usage: fetch-lammps.sh DEST [SUITE]}
suite=${2:-bookworm}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
tree="$dest/lammps-$suite"
stamp="$tree/.cephalo-fetched"

if [[ -f "$stamp" && -f "$tree/src/version.h" ]]; then
  echo "$tree/src"
  exit 0
fi

for tool in apt-get dpkg-source tar; do
  command -v "$tool" >/dev/null || { echo "fetch-lammps.sh: '$tool' is missing (install dpkg-dev)" >&2; exit 1; }
done

apt_root="$dest/apt-$suite"
mkdir -p "$apt_root/lists/partial" "$apt_root/cache/archives/partial" "$apt_root/download"
echo "deb-src http://deb.debian.org/debian $suite main" >"$apt_root/sources.list"
apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_root/sources.list"
  -o "Dir::Etc::sourceparts=/nonexistent"
  -o "Dir::State::Lists=$apt_root/lists"
  -o "Dir::Cache=$apt_root/cache"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
)

echo "fetch-lammps.sh: downloading the LAMMPS source package of Debian $suite" >&2
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$apt_root/download" && apt-get "${apt_opts[@]}" -qq source --download-only "lammps/$suite" >&2) || {
  # A mirror may lag behind its index for the small debian/ tarball; the upstream
  # tarball alone is still a complete LAMMPS tree.
  echo "fetch-lammps.sh: the full source package could not be downloaded; using the upstream tarball" >&2
}

rm -rf "$tree.partial"
dsc=$(ls "$apt_root"/download/lammps_*.dsc 2>/dev/null | head -n 1 || true)
if [[ -n "$dsc" ]]; then
  dpkg-source --no-check -x "$dsc" "$tree.partial" >&2
else
  orig=$(ls "$apt_root"/download/lammps_*.orig.tar.* 2>/dev/null | head -n 1 || true)
  [[ -n "$orig" ]] || { echo "fetch-lammps.sh: no LAMMPS source for Debian $suite was downloaded" >&2; exit 1; }
  mkdir -p "$tree.partial"
  tar -xf "$orig" -C "$tree.partial"
  # Upstream tarballs either hold the tree directly or inside one top-level folder.
  if [[ ! -d "$tree.partial/src" ]]; then
    inner=("$tree.partial"/*/)
    if [[ ${#inner[@]} -eq 1 && -d "${inner[0]}src" ]]; then
      mv "${inner[0]}" "$tree.unpacked" && rm -rf "$tree.partial" && mv "$tree.unpacked" "$tree.partial"
    fi
  fi
fi
[[ -f "$tree.partial/src/version.h" ]] || { echo "fetch-lammps.sh: unpacked tree has no src/version.h" >&2; exit 1; }
rm -rf "$tree" "$apt_root/download"
mv "$tree.partial" "$tree"
touch "$stamp"
echo "$tree/src"
