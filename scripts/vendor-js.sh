#!/usr/bin/env bash
# Re-vendor the front-end JS/CSS libraries served from
# src/cityos/web/static/vendor/ from the npm registry.
#
# Usage: scripts/vendor-js.sh   (from anywhere; needs npm, tar, node)
#
# Vendored files are copied byte-for-byte from the published npm tarballs;
# never edit them by hand. To upgrade, change the pinned version AND its
# integrity below (`npm view <pkg>@<version> dist.integrity`), re-run, and
# update src/cityos/web/static/vendor/README.md.
set -euo pipefail

LEAFLET_VERSION="1.9.4"
LEAFLET_INTEGRITY="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
HTMX_VERSION="2.0.11"
HTMX_INTEGRITY="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="
SWAGGER_UI_VERSION="5.35.0"
SWAGGER_UI_INTEGRITY="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
ECHARTS_VERSION="5.6.0"
ECHARTS_INTEGRITY="sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA=="
MARKERCLUSTER_VERSION="1.5.3"
MARKERCLUSTER_INTEGRITY="sha512-vPTw/Bndq7eQHjLBVlWpnGeLa3t+3zGiuM7fJwCkiMFq+nmRuG3RI3f7f4N4TDX7T4NpbAXpR2+NTRSEGfCSeA=="

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
VENDOR_DIR="${REPO_ROOT}/src/cityos/web/static/vendor"

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cityos-vendor-js.XXXXXX")"
cleanup() { rm -rf -- "${WORK_DIR}"; }
trap cleanup EXIT

# fetch <npm-package> <version> <expected-integrity>
# Downloads the tarball with `npm pack`, checks its sha512 integrity and
# extracts it; prints the path of the extracted "package" directory.
fetch() {
    local pkg="$1" version="$2" integrity="$3"
    local dest="${WORK_DIR}/${pkg}"
    mkdir -p "${dest}"
    local tarball
    tarball="$(cd "${dest}" && npm pack --silent "${pkg}@${version}" | tail -n 1)"
    local actual
    actual="sha512-$(openssl dgst -sha512 -binary "${dest}/${tarball}" | base64 | tr -d '\n')"
    if [[ "${actual}" != "${integrity}" ]]; then
        echo "error: ${pkg}@${version}: integrity mismatch" >&2
        echo "  expected ${integrity}" >&2
        echo "  got      ${actual}" >&2
        exit 1
    fi
    tar xzf "${dest}/${tarball}" -C "${dest}"
    echo "${dest}/package"
}

# reset_dir <subdir of vendor/>: start each library from an empty directory
# so that files dropped upstream do not linger.
reset_dir() {
    local dir="${VENDOR_DIR}/$1"
    rm -rf -- "${dir}"
    mkdir -p "${dir}"
    echo "${dir}"
}

echo "Vendoring into ${VENDOR_DIR}"

# Download and verify everything first, so a failure leaves vendor/ untouched.
LEAFLET_SRC="$(fetch leaflet "${LEAFLET_VERSION}" "${LEAFLET_INTEGRITY}")"
HTMX_SRC="$(fetch htmx.org "${HTMX_VERSION}" "${HTMX_INTEGRITY}")"
SWAGGER_UI_SRC="$(fetch swagger-ui-dist "${SWAGGER_UI_VERSION}" "${SWAGGER_UI_INTEGRITY}")"
ECHARTS_SRC="$(fetch echarts "${ECHARTS_VERSION}" "${ECHARTS_INTEGRITY}")"
MARKERCLUSTER_SRC="$(fetch leaflet.markercluster "${MARKERCLUSTER_VERSION}" "${MARKERCLUSTER_INTEGRITY}")"

# --- Leaflet ---------------------------------------------------------------
src="${LEAFLET_SRC}"
dst="$(reset_dir leaflet)"
mkdir -p "${dst}/images"
cp "${src}/dist/leaflet.js" "${src}/dist/leaflet.css" "${src}/LICENSE" "${dst}/"
for img in marker-icon.png marker-icon-2x.png marker-shadow.png layers.png layers-2x.png; do
    cp "${src}/dist/images/${img}" "${dst}/images/"
done

# --- htmx ------------------------------------------------------------------
src="${HTMX_SRC}"
dst="$(reset_dir htmx)"
cp "${src}/dist/htmx.min.js" "${src}/LICENSE" "${dst}/"

# --- Swagger UI ------------------------------------------------------------
# swagger-ui-bundle.js starts with "For license information please see
# swagger-ui-bundle.js.LICENSE.txt" (notices of the bundled third-party
# code), so that file ships alongside it.
src="${SWAGGER_UI_SRC}"
dst="$(reset_dir swagger-ui)"
cp "${src}/swagger-ui-bundle.js" "${src}/swagger-ui-bundle.js.LICENSE.txt" \
   "${src}/swagger-ui.css" "${src}/LICENSE" "${dst}/"
if [[ -f "${src}/NOTICE" ]]; then cp "${src}/NOTICE" "${dst}/"; fi

# --- Apache ECharts --------------------------------------------------------
# ECharts' LICENSE points to licenses/LICENSE-d3 for the embedded d3 code,
# which is part of echarts.min.js, so it is kept at the same relative path.
src="${ECHARTS_SRC}"
dst="$(reset_dir echarts)"
mkdir -p "${dst}/licenses"
cp "${src}/dist/echarts.min.js" "${src}/LICENSE" "${dst}/"
if [[ -f "${src}/NOTICE" ]]; then cp "${src}/NOTICE" "${dst}/"; fi
cp "${src}/licenses/LICENSE-d3" "${dst}/licenses/"

# --- Leaflet.markercluster (the operations center's clustered cases) ------
# The package calls its licence MIT-LICENCE.txt; it ships here as LICENSE.
src="${MARKERCLUSTER_SRC}"
dst="$(reset_dir leaflet.markercluster)"
cp "${src}/dist/leaflet.markercluster.js" "${src}/dist/MarkerCluster.css" \
   "${src}/dist/MarkerCluster.Default.css" "${dst}/"
cp "${src}/MIT-LICENCE.txt" "${dst}/LICENSE"

# --- sanity checks ---------------------------------------------------------
status=0
while IFS= read -r -d '' lic; do
    if [[ ! -s "${lic}" ]]; then
        echo "error: empty licence file ${lic}" >&2
        status=1
    fi
done < <(find "${VENDOR_DIR}" -type f \( -name 'LICENSE*' -o -name 'NOTICE' \) -print0)
for lib in leaflet htmx swagger-ui echarts leaflet.markercluster; do
    if [[ ! -s "${VENDOR_DIR}/${lib}/LICENSE" ]]; then
        echo "error: missing licence ${VENDOR_DIR}/${lib}/LICENSE" >&2
        status=1
    fi
done
if [[ -n "$(find "${VENDOR_DIR}" -name '*.map' -print -quit)" ]]; then
    echo "error: source maps found under ${VENDOR_DIR}" >&2
    status=1
fi
[[ "${status}" -eq 0 ]] || exit "${status}"

(cd "${VENDOR_DIR}" && find leaflet htmx swagger-ui echarts leaflet.markercluster -type f | LC_ALL=C sort | xargs sha256sum)
echo "Done."
