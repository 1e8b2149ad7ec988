# Debian packages through cpack (run `cpack -G DEB` in the build directory),
# one per install component (ZonePackage.cmake lists what each holds):
#   libzone0     runtime  libzone.so.0*, libzoneshim.so.0*
#   libzone-dev  dev      zone.h, libzone.so, libzoneshim.so, libzone.a, the
#                         CMake package, zone.pc, section 3 pages
#   zone-tools   tools    zone-run, zone-map, section 1 and 7 pages
# libzone-dev and zone-tools depend on the libzone0 of the same version (the
# shim zone-run preloads is in libzone0); the C library dependencies come
# from dpkg-shlibdeps. Configure with -DCMAKE_INSTALL_PREFIX=/usr for
# Debian's multiarch library directory.

set(ZONE_DEB_MAINTAINER "libzone maintainers" CACHE STRING
  "Maintainer field of the Debian packages")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libzone)
set(CPACK_PACKAGE_VENDOR libzone)
# Each package's description below starts with its own synopsis line. CPackDeb
# would put the one project summary in front of all three unless it is
# CPack's default summary, so that is what it is set to.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev tools)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_TOOLS_DEPENDS runtime)

set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${ZONE_DEB_MAINTAINER}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs file for libzone0, so that packages linking libzone get their
# dependency from dpkg-shlibdeps too (ldconfig runs from postinst and postrm).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# Depends: libzone0 (= version) for the components that name it above.
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libzone${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "zone allocator with exact first fit: shared libraries
libzone.so.${PROJECT_VERSION_MAJOR}, the allocator, and libzoneshim.so.${PROJECT_VERSION_MAJOR}, which gives
a program's whole malloc family to a first-fit zone under LD_PRELOAD.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libzone-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libc6-dev | libc-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "zone allocator with exact first fit: development files
The header zone.h, libzone.so and the static libzone.a, a CMake package
(find_package(zone): zone::zone, zone::zone_static, zone::shim), zone.pc
for pkg-config and the section 3 manual pages.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME zone-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SUGGESTS "librsvg2-bin")
set(CPACK_DEBIAN_TOOLS_DESCRIPTION "zone allocator with exact first fit: zone-run and zone-map
zone-run runs a program with its allocations on a first-fit zone (through
libzoneshim); zone-map draws the zone's dumps as SVG or PNG heap maps.")

include(CPack)
