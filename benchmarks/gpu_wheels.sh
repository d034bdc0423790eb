#!/usr/bin/env bash
# The wheels benchmarks/gpu_check.sh installs on a GPU machine that lacks them, into .whl/ (git-excluded).
#
#     benchmarks/gpu_wheels.sh            (no arguments; downloads at once)
#     benchmarks/gpu_wheels.sh --help     this text, and nothing downloaded
#
# openslide-python, openslide-bin, imagecodecs, pydicom and scikit-learn for CPython 3.12 on x86-64
# (the device machine's), 19 MB: imagecodecs (26 MB) is rezipped with only the codecs slides use
# (JPEG, JPEG 2000, deflate, LZW, zstd, LZMA, WebP, PNG) and the libraries they load, so that the
# checkout and the wheels stay under the device's 64 MiB. Then run, through the device tool, with
# carry [".whl"]:  benchmarks/gpu_check.sh $OUT
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    '') ;;
    *) echo "gpu_wheels.sh: error: unknown argument '$1': it takes none (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    openslide-python==1.4.7 openslide-bin==4.0.1.2 imagecodecs==2026.3.6 pydicom==3.0.2 scikit-learn==1.9.1

wheel=$(ls .whl/imagecodecs-*.whl)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && python3 -m zipfile -e "$OLDPWD/$wheel" .)
keep_modules=" _imcd _jpeg8 _jpeg2k _zlib _deflate _zstd _lzma _webp _png _shared _shared_cython "
for module in "$work"/imagecodecs/_*.abi3.so; do
    name=$(basename "$module" .abi3.so)
    [[ "$keep_modules" == *" $name "* ]] || rm "$module"
done
# the bundled libraries the kept modules load, directly or through one another
needed() { readelf -d "$@" 2>/dev/null | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | sort -u; }
keep=$(needed "$work"/imagecodecs/*.so)
while :; do
    more=$(cd "$work/imagecodecs.libs" && needed $(for l in $keep; do [[ -f $l ]] && echo "$l"; done) | sort -u)
    grown=$(printf '%s\n%s\n' "$keep" "$more" | sort -u)
    [[ "$grown" == "$keep" ]] && break
    keep=$grown
done
for lib in "$work"/imagecodecs.libs/*; do
    grep -qx "$(basename "$lib")" <<<"$keep" || rm "$lib"
done
record=$(ls -d "$work"/*.dist-info)/RECORD
(cd "$work" && python3 - "$record" <<'PY'
import os, sys
record = sys.argv[1]
rows = [row for row in open(record) if os.path.exists(row.split(",")[0])]
open(record, "w").writelines(rows)
PY
)
rm "$wheel"
(cd "$work" && python3 - "$OLDPWD/$wheel" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
    for folder, _, files in os.walk("."):
        for name in sorted(files):
            path = os.path.join(folder, name)
            out.write(path, os.path.relpath(path, "."))
PY
)
du -sh .whl
