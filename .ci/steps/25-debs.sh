#!/usr/bin/env bash
# CI step: the Debian packages. A build for /usr of its own (build-deb: no
# tests, no benchmarks), cpack makes libzone0, libzone-dev and zone-tools;
# what each holds and depends on is checked, every installed file must be in
# exactly one of them; they are installed with dpkg -i, tests/consumer is built
# against the system package through find_package(zone) and pkg-config, shared
# and static, zone-run and zone-map run from /usr/bin; then the packages are
# removed (also when a check fails), the machine is checked clean, and the
# static consumers still run with no libzone.so left anywhere. Removal is
# dpkg --purge: plain dpkg -r would leave libzone0 in state "rc", kept for the
# ldconfig postrm script cpack gives it. Needs root (or sudo) for dpkg. About
# 30 s on 2 cores.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
fail() { echo "25-debs: $*" >&2; exit 1; }

names=(libzone0 libzone-dev zone-tools)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
for name in "${names[@]}"; do
  ! installed "$name" || fail "$name is installed already; not replacing (or removing) it"
done

build="build-deb"
tmp=$(mktemp -d)
ours=0
cleanup() {
  if [ "$ours" = 1 ]; then $SUDO dpkg --purge zone-tools libzone-dev libzone0 >/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF -DZONE_BUILD_BENCH=OFF \
  -DZONE_WERROR=ON >/dev/null
cmake --build "$build" -j2 >/dev/null
rm -rf "$build/packages"
(cd "$build" && cpack -G DEB >/dev/null)

# ---- the .debs: names, contents, dependencies ---------------------------------
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch
mapfile -t debs < <(find "$build/packages" -maxdepth 1 -name '*.deb' | sort)
[ "${#debs[@]}" -eq 3 ] || fail "cpack made ${#debs[@]} packages, not 3: ${debs[*]}"
deb_of() { find "$build/packages" -maxdepth 1 -name "$1_*.deb" | head -n 1; }
for name in "${names[@]}"; do
  [ -n "$(deb_of "$name")" ] || fail "no $name package among ${debs[*]}"
done
version=$(dpkg-deb -f "$(deb_of libzone0)" Version)
echo "packages: ${debs[*]##*/}"

# Files (not directories) of a package, as absolute paths.
files_of() { dpkg-deb -c "$(deb_of "$1")" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|' | sort; }
for name in "${names[@]}"; do files_of "$name" >"$tmp/$name.files"; done
has() {  # has PACKAGE FILE...
  local name=$1 file
  shift
  for file in "$@"; do grep -qxF "$file" "$tmp/$name.files" || fail "$name lacks $file"; done
}
has libzone0 "$libdir/libzone.so.0" "$libdir/libzone.so.$version" \
  "$libdir/libzoneshim.so.0" "$libdir/libzoneshim.so.$version"
has libzone-dev /usr/include/zone.h "$libdir/libzone.so" "$libdir/libzone.a" \
  "$libdir/libzoneshim.so" "$libdir/pkgconfig/zone.pc" "$libdir/cmake/zone/zoneConfig.cmake" \
  "$libdir/cmake/zone/zoneConfigVersion.cmake" "$libdir/cmake/zone/zoneTargets.cmake"
has zone-tools /usr/bin/zone-run /usr/bin/zone-map
! grep -v "^$libdir/libzone\(shim\)\?\.so\.[0-9.]*$" "$tmp/libzone0.files" ||
  fail "libzone0 holds more than the shared libraries (above)"
! grep -q '\.so\.[0-9]' "$tmp/libzone-dev.files" || fail "libzone-dev holds a versioned library"
! grep -v '^/usr/bin/\|^/usr/share/man/man[17]/' "$tmp/zone-tools.files" ||
  fail "zone-tools holds more than programs and section 1 and 7 pages (above)"

# Every file `cmake --install` writes is in exactly one package. The man
# pages are the exception while doc/CMakeLists.txt gives them no install
# COMPONENT (cpack leaves such files out); once it does, they are checked:
# section 3 in libzone-dev, sections 1 and 7 in zone-tools.
DESTDIR=$tmp/stage cmake --install "$build" >/dev/null
(cd "$tmp/stage" && find . ! -type d | sed 's|^\./|/|' | sort) >"$tmp/all.files"
sort "$tmp"/libzone0.files "$tmp"/libzone-dev.files "$tmp"/zone-tools.files >"$tmp/packaged.files"
dups=$(uniq -d "$tmp/packaged.files")
[ -z "$dups" ] || fail "in two packages: $dups"
comm -23 "$tmp/all.files" "$tmp/packaged.files" >"$tmp/left-out.files"
! grep -v '^/usr/share/man/' "$tmp/left-out.files" || fail "installed but in no package (above)"
if [ -s "$tmp/left-out.files" ]; then
  echo "25-debs: WARNING: $(wc -l <"$tmp/left-out.files") man pages are in no package:" \
    "doc/CMakeLists.txt's install(FILES) needs COMPONENT dev (man3) or tools (man1, man7)"
else
  ! grep '^/usr/share/man/man3/' "$tmp/zone-tools.files" || fail "zone-tools holds section 3 pages"
  ! grep '^/usr/share/man/man[17]/' "$tmp/libzone-dev.files" || fail "libzone-dev holds section 1/7 pages"
  has libzone-dev /usr/share/man/man3/zone.3
  has zone-tools /usr/share/man/man1/zone-run.1 /usr/share/man/man1/zone-map.1 \
    /usr/share/man/man7/libzoneshim.7
fi

depends() { dpkg-deb -f "$(deb_of "$1")" Depends; }
for name in libzone-dev zone-tools; do
  case ", $(depends "$name")," in
    *", libzone0 (= $version),"*) ;;
    *) fail "$name does not depend on libzone0 (= $version): $(depends "$name")" ;;
  esac
done
case "$(depends libzone0)" in libc6*) ;; *) fail "libzone0 depends on $(depends libzone0)" ;; esac
echo "contents and dependencies OK (version $version)"

# ---- installed: consumers through CMake and pkg-config, zone-run, zone-map ------
ours=1
$SUDO dpkg -i "${debs[@]}" >/dev/null
for name in "${names[@]}"; do installed "$name" || fail "$name did not install"; done
# With merged /usr the loader may name /lib/<multiarch> instead of /usr/lib/<multiarch>.
loaded="\(/usr\)\?/lib/$multiarch/libzone.so.0"
ldconfig -p | grep -q "libzone.so.0 .*=> $loaded$" || fail "ldconfig does not know libzone.so.0"

echo "--- consumer through find_package(zone), no prefix given"
cmake -S tests/consumer -B "$tmp/cmake" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
grep -q "^zone_DIR:PATH=$libdir/cmake/zone$" "$tmp/cmake/CMakeCache.txt" ||
  fail "find_package(zone) did not find the system package"
env -u LD_LIBRARY_PATH "$tmp/cmake/consumer"
ldd "$tmp/cmake/consumer" | grep -q "libzone.so.0 => $loaded " ||
  fail "the shared consumer does not load $libdir/libzone.so.0"
sh tests/check_static.sh "$tmp/cmake/consumer-static" readelf

echo "--- consumer through pkg-config, no PKG_CONFIG_PATH"
unset PKG_CONFIG_PATH
[ "$(pkg-config --modversion zone)" = "$version" ] || fail "pkg-config finds zone $(pkg-config --modversion zone)"
mkdir "$tmp/pc"
make -s -C tests/consumer OUT="$tmp/pc"
env -u LD_LIBRARY_PATH "$tmp/pc/consumer-pc"
sh tests/check_static.sh "$tmp/pc/consumer-pc-static" readelf

echo "--- zone-run and zone-map from the package"
[ "$(command -v zone-run)" = /usr/bin/zone-run ] || fail "zone-run is $(command -v zone-run)"
zone-run true || fail "zone-run true failed"
shim=$(zone-run --print-shim)
[ "$(dpkg -S "$shim" | cut -d: -f1)" = libzone0 ] || fail "zone-run preloads $shim, not libzone0's"
zone-run --stats -- ls -d / 2>"$tmp/stats" >/dev/null
grep -q '^zone stats: .*prog=ls ' "$tmp/stats" || fail "zone-run --stats: no stats line from ls"
set +e
zone-run -- /no/such/prog 2>"$tmp/err"
status=$?
set -e
if [ "$status" -ne 127 ] || ! grep -q '^zone-run: /no/such/prog: no such file' "$tmp/err"; then
  fail "installed zone-run on a missing program: status $status, $(cat "$tmp/err")"
fi
zone-map --last tools/tests/series.dump -o "$tmp/map.svg"
grep -q 'data-dump="3"' "$tmp/map.svg" || fail "installed zone-map did not draw the last dump"

# ---- removed: nothing left, the static consumers still run ------------------------
$SUDO dpkg --purge zone-tools libzone-dev libzone0 >/dev/null
ours=0
for name in "${names[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null || true)
  case $status in ''|*not-installed) ;; *) fail "$name is left as: $status" ;; esac
done
while read -r file; do
  if [ -e "$file" ] || [ -L "$file" ]; then fail "$file is left after dpkg --purge"; fi
done <"$tmp/packaged.files"
! ldconfig -p | grep -q 'libzone' || fail "ldconfig still lists libzone"
for program in "$tmp/cmake/consumer-static" "$tmp/pc/consumer-pc-static"; do
  env -u LD_LIBRARY_PATH "$program" >/dev/null || fail "$program fails once libzone is removed"
done
! env -u LD_LIBRARY_PATH "$tmp/cmake/consumer" 2>/dev/null ||
  fail "the shared consumer still runs: a libzone.so is left somewhere"
echo "25-debs: packages built, installed, used and removed; static consumers run without libzone.so"
