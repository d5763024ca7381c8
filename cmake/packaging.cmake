# install() rules and CPack: one .deb and one .rpm per program
# (drover-coordinator, droverctl, drover-updater). deploy/packages.sh builds
# them; tests/e2e/packages_test.sh installs and removes the .debs.
#
#   component    package              contents
#   coordinator  drover-coordinator   /usr/bin/drover-coordinator, its unit,
#                                     /etc/drover/coordinator.env, the `drover` user
#   droverctl    droverctl            /usr/bin/droverctl, /usr/bin/drover-artifact
#   updater      drover-updater       /usr/bin/drover-updater{,-pass}, three units,
#                                     /etc/drover/updater.conf.example
#
# The SQL migrations are compiled into drover-coordinator (migrations.cc is
# generated from migrations/), so no package carries them.

set(DROVER_PACKAGE_MAINTAINER "Drover maintainers <maintainers@users.noreply.r-seed-3855225f.example>"
  CACHE STRING "Maintainer field of the packages")
# The repository has no LICENSE file yet: whoever publishes packages sets this.
set(DROVER_PACKAGE_LICENSE "Proprietary" CACHE STRING "License field of the packages")
set(DROVER_PACKAGE_RELEASE 1 CACHE STRING "Debian revision / RPM release of the packages")

# cpack would otherwise build `all` (every test included) before packaging;
# deploy/packages.sh builds just the packaged programs, and --no-build packages
# what is there.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(_pkg_dir ${CMAKE_SOURCE_DIR}/deploy/packaging)
set(_gen_dir ${CMAKE_BINARY_DIR}/packaging)

# Debian keeps units in /lib/systemd/system (dpkg does not know /lib is
# /usr/lib on merged-/usr systems), Fedora and EL in /usr/lib/systemd/system.
# One install tree serves both: the destination is chosen when CPack runs the
# install, from the generator (deploy/packaging/cpack_project_config.cmake
# exports it); a plain `cmake --install` takes Debian's.
set(_unit_dir_code [[
if("$ENV{DROVER_CPACK_GENERATOR}" STREQUAL "RPM")
  set(DROVER_SYSTEMD_UNIT_DIR usr/lib/systemd/system)
else()
  set(DROVER_SYSTEMD_UNIT_DIR lib/systemd/system)
endif()
]])

# The packaged units run /usr/bin's binaries (deploy/systemd's run
# /usr/local/bin's, where deploy/install-host.sh copies a development build)
# and point at their own package's README.
function(_drover_packaged_unit unit package out_var)
  set(src ${CMAKE_SOURCE_DIR}/deploy/systemd/${unit})
  set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  file(READ ${src} text)
  string(REPLACE "/usr/local/bin/" "/usr/bin/" text "${text}")
  string(REPLACE "file:///usr/share/doc/drover/" "file:///usr/share/doc/${package}/" text "${text}")
  file(CONFIGURE OUTPUT ${_gen_dir}/systemd/${unit} CONTENT "${text}")
  set(${out_var} ${_gen_dir}/systemd/${unit} PARENT_SCOPE)
endfunction()

# Debian wants /usr/share/doc/<package>/copyright.
file(CONFIGURE OUTPUT ${_gen_dir}/copyright CONTENT
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: drover

Files: *
Copyright: ${DROVER_PACKAGE_MAINTAINER}
License: ${DROVER_PACKAGE_LICENSE}
")

# drover_package_docs(COMPONENT PACKAGE)
function(drover_package_docs component package)
  install(FILES ${CMAKE_SOURCE_DIR}/README.md ${_gen_dir}/copyright
    DESTINATION share/doc/${package} COMPONENT ${component})
endfunction()

# --- drover-coordinator ------------------------------------------------------
_drover_packaged_unit(drover-coordinator.service drover-coordinator _coordinator_unit)
install(TARGETS drover-coordinator RUNTIME DESTINATION bin COMPONENT coordinator)
install(CODE "${_unit_dir_code}" COMPONENT coordinator)
install(FILES ${_coordinator_unit} DESTINATION "/\${DROVER_SYSTEMD_UNIT_DIR}" COMPONENT coordinator)
# Read by systemd (as root) before the service drops to `drover`.
install(FILES ${_pkg_dir}/coordinator.env DESTINATION /etc/drover
  PERMISSIONS OWNER_READ OWNER_WRITE COMPONENT coordinator)
# Its home and state directory: the CA and server keys (ca init --ca_dir=),
# .pgpass. Owned by `drover` (postinst / rpm %attr), mode 0750.
install(DIRECTORY DESTINATION /var/lib/drover COMPONENT coordinator)
install(FILES ${CMAKE_SOURCE_DIR}/docs/security.md DESTINATION share/doc/drover-coordinator
  COMPONENT coordinator)
drover_package_docs(coordinator drover-coordinator)

# --- droverctl ---------------------------------------------------------------
# The operator's tools: the CLI and the release signer.
install(TARGETS droverctl drover-artifact RUNTIME DESTINATION bin COMPONENT droverctl)
drover_package_docs(droverctl droverctl)

# --- drover-updater ----------------------------------------------------------
set(_updater_units)
foreach(unit drover-updater.service drover-updater-once.service drover-updater-once.timer)
  _drover_packaged_unit(${unit} drover-updater _unit)
  list(APPEND _updater_units ${_unit})
endforeach()
# drover-updater runs drover-updater-pass from its own directory.
install(TARGETS drover-updater drover-updater-pass RUNTIME DESTINATION bin COMPONENT updater)
install(CODE "${_unit_dir_code}" COMPONENT updater)
install(FILES ${_updater_units} DESTINATION "/\${DROVER_SYSTEMD_UNIT_DIR}" COMPONENT updater)
install(FILES ${_pkg_dir}/updater.conf.example DESTINATION /etc/drover COMPONENT updater)
# For an apt or dnf agent: installed as <unit>.d/50-packages.conf (install-host.sh does).
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/drover-updater-packages.conf
  DESTINATION share/doc/drover-updater/examples COMPONENT updater)
drover_package_docs(updater drover-updater)

# --- CPack -------------------------------------------------------------------
set(CPACK_PACKAGE_NAME drover)
set(CPACK_PACKAGE_VENDOR "Drover")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${DROVER_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL coordinator droverctl updater)
set(CPACK_STRIP_FILES ON)
set(CPACK_PROJECT_CONFIG_FILE ${_pkg_dir}/cpack_project_config.cmake)

set(CPACK_COMPONENT_COORDINATOR_DESCRIPTION
"Drover coordinator: version server for fleet rollouts
The source of truth of a Drover fleet: channels, staged rollouts and the
versions agents should run, served over gRPC to drover-updater and droverctl,
with Prometheus metrics. Stores its state in PostgreSQL. Runs as the `drover`
system user (drover-coordinator.service, not enabled by default).")
set(CPACK_COMPONENT_DROVERCTL_DESCRIPTION
"Drover operator command line
droverctl manages a Drover coordinator: channels, rollouts, maintenance
windows, operators, signing keys and the fleet's status. drover-artifact
signs release tarballs' manifests.")
set(CPACK_COMPONENT_UPDATER_DESCRIPTION
"Drover updater: keeps a host's agent on its channel's version
drover-updater asks a Drover coordinator for the target version of a local
agent and installs it with apt, dnf or from signed tarballs, inside
maintenance windows, with health checks and rollback. A daemon
(drover-updater.service) or a timer (drover-updater-once.timer).")

# Debian ----------------------------------------------------------------------
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${DROVER_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the binaries' libraries (dpkg-shlibdeps): libgrpc++1.51,
# libprotobuf32, libpqxx-6.4, ... at the versions they were built against.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Maintainer scripts 0755, control files 0644, as dpkg and lintian expect.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_NAME drover-coordinator)
set(CPACK_DEBIAN_DROVERCTL_PACKAGE_NAME droverctl)
set(CPACK_DEBIAN_UPDATER_PACKAGE_NAME drover-updater)
# postinst runs addgroup/adduser.
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_SUGGESTS "postgresql, droverctl")
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_CONTROL_EXTRA
  ${_pkg_dir}/deb/coordinator/postinst ${_pkg_dir}/deb/coordinator/prerm
  ${_pkg_dir}/deb/coordinator/postrm ${_pkg_dir}/deb/coordinator/conffiles)
set(CPACK_DEBIAN_UPDATER_PACKAGE_CONTROL_EXTRA
  ${_pkg_dir}/deb/updater/postinst ${_pkg_dir}/deb/updater/prerm
  ${_pkg_dir}/deb/updater/postrm ${_pkg_dir}/deb/updater/conffiles)

# RPM -------------------------------------------------------------------------
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE ${DROVER_PACKAGE_RELEASE})
set(CPACK_RPM_PACKAGE_LICENSE "${DROVER_PACKAGE_LICENSE}")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
# /etc and /lib paths: not relocatable.
set(CPACK_PACKAGE_RELOCATABLE OFF)
# rpmbuild adds the libraries' sonames as Requires (libgrpc++.so.1.51()(64bit),
# ...); below only what scripts and units need on top.
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_AUTOPROV OFF)
# No /usr/lib/.build-id links: the binaries are stripped, there is no debuginfo package.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")
# Directories other packages own (filesystem, systemd).
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
  /var /var/lib /lib /lib/systemd /lib/systemd/system /usr/lib/systemd /usr/lib/systemd/system
  /usr/share/doc)
set(CPACK_RPM_COORDINATOR_PACKAGE_NAME drover-coordinator)
set(CPACK_RPM_DROVERCTL_PACKAGE_NAME droverctl)
set(CPACK_RPM_UPDATER_PACKAGE_NAME drover-updater)
set(CPACK_RPM_COORDINATOR_PACKAGE_SUMMARY "Drover coordinator: version server for fleet rollouts")
set(CPACK_RPM_DROVERCTL_PACKAGE_SUMMARY "Drover operator command line")
set(CPACK_RPM_UPDATER_PACKAGE_SUMMARY "Drover updater: keeps a host's agent on its channel's version")
# %pre runs groupadd/useradd.
set(CPACK_RPM_COORDINATOR_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_COORDINATOR_PACKAGE_REQUIRES "systemd")
set(CPACK_RPM_UPDATER_PACKAGE_REQUIRES "systemd")
# CPack marks every file under an absolute destination %config; these lists
# say which really are, and give the state directory to `drover`. (Each line
# needs a directive: CMake 3.25 fails on a bare path here.)
set(CPACK_RPM_COORDINATOR_USER_FILELIST
  "%config(noreplace) %attr(0600,root,root) /etc/drover/coordinator.env"
  "%attr(0644,root,root) /usr/lib/systemd/system/drover-coordinator.service"
  "%dir %attr(0750,drover,drover) /var/lib/drover")
set(CPACK_RPM_UPDATER_USER_FILELIST
  "%config(noreplace) /etc/drover/updater.conf.example"
  "%attr(0644,root,root) /usr/lib/systemd/system/drover-updater.service"
  "%attr(0644,root,root) /usr/lib/systemd/system/drover-updater-once.service"
  "%attr(0644,root,root) /usr/lib/systemd/system/drover-updater-once.timer")
set(CPACK_RPM_COORDINATOR_PRE_INSTALL_SCRIPT_FILE ${_pkg_dir}/rpm/coordinator/pre)
set(CPACK_RPM_COORDINATOR_POST_INSTALL_SCRIPT_FILE ${_pkg_dir}/rpm/coordinator/post)
set(CPACK_RPM_COORDINATOR_PRE_UNINSTALL_SCRIPT_FILE ${_pkg_dir}/rpm/coordinator/preun)
set(CPACK_RPM_COORDINATOR_POST_UNINSTALL_SCRIPT_FILE ${_pkg_dir}/rpm/coordinator/postun)
set(CPACK_RPM_UPDATER_POST_INSTALL_SCRIPT_FILE ${_pkg_dir}/rpm/updater/post)
set(CPACK_RPM_UPDATER_PRE_UNINSTALL_SCRIPT_FILE ${_pkg_dir}/rpm/updater/preun)
set(CPACK_RPM_UPDATER_POST_UNINSTALL_SCRIPT_FILE ${_pkg_dir}/rpm/updater/postun)

include(CPack)
