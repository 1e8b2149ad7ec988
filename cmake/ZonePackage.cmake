# Installs libzone (shared and static) with its header, a pkg-config file and
# a CMake package (find_package(zone) gives zone::zone, the shared library,
# zone::zone_static, and zone::shim when the shim is built), then sets up the
# Debian packages (ZoneDeb).
#
# Install components, one per Debian package: runtime (libzone0: the shared
# libraries' real files and SONAME links), dev (libzone-dev: header, libzone.so
# link, libzone.a, CMake package, zone.pc, section 3 pages) and tools
# (zone-tools: zone-run, zone-map, section 1 and 7 pages).
include(CMakePackageConfigHelpers)

install(TARGETS zone EXPORT zoneTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(TARGETS zone_static EXPORT zoneTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)

install(EXPORT zoneTargets
  FILE zoneTargets.cmake
  NAMESPACE zone::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/zone
  COMPONENT dev)

configure_package_config_file(cmake/zoneConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/zoneConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/zone)
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/zoneConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/zoneConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/zoneConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/zone
  COMPONENT dev)

# pkg-config: absolute CMAKE_INSTALL_*DIR values are used as they are.
# Otherwise the prefix is found from the .pc file's own place (${pcfiledir}),
# so that `cmake --install build --prefix X` gives a zone.pc that points into
# X and not at the CMAKE_INSTALL_PREFIX of configure time.
file(RELATIVE_PATH ZONE_PC_RELPREFIX
  "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" ZONE_PC_RELPREFIX "${ZONE_PC_RELPREFIX}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(ZONE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  set(ZONE_PC_PREFIX "\${pcfiledir}/${ZONE_PC_RELPREFIX}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(ZONE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(ZONE_PC_LIBDIR "\${exec_prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(ZONE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(ZONE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(zone.pc.in ${CMAKE_CURRENT_BINARY_DIR}/zone.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/zone.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT dev)

include(ZoneDeb)
