# Installing touchline as a service, and its Debian package. Included from CMakeLists.txt
# after the install rules of the binaries and migrations.
#
#   cmake --install BUILD [--prefix P]   man pages, bash completion, the configuration file
#                                        and the systemd unit, besides the binaries
#   cpack -G DEB (in BUILD)              touchline_<version>_<arch>.deb
#
# Where the configuration file and the unit go is decided at install time, when the prefix
# is known: under a prefix named "usr" (/usr itself, or cpack's staging .../usr) they go to
# its siblings etc/touchline and lib/systemd/system, i.e. /etc/touchline and
# /lib/systemd/system as Debian wants; under any other prefix P to P/etc/touchline and
# P/lib/systemd/system, with the unit's paths rewritten to name P. So the package has the
# right layout whatever prefix the build tree was configured with. DESTDIR is honored.

set(TOUCHLINE_PACKAGE_CONTACT "touchline maintainers <maintainers@touchline.invalid>"
    CACHE STRING "Maintainer field of the Debian package (and of its changelog)")

# Man pages and the changelog go compressed (gzip -9n: the best compression, no name or time
# in the header, so the package is reproducible), as Debian policy wants; man reads them so.
find_program(TOUCHLINE_GZIP gzip REQUIRED)
configure_file(${CMAKE_SOURCE_DIR}/packaging/debian/changelog.in
               ${CMAKE_BINARY_DIR}/packaging/changelog @ONLY)
set(TOUCHLINE_GZIPPED)
foreach(pair "docs/man/touchline.1|man/touchline.1.gz" "docs/man/touchlined.8|man/touchlined.8.gz"
             "${CMAKE_BINARY_DIR}/packaging/changelog|packaging/changelog.gz")
    string(REPLACE "|" ";" pair "${pair}")
    list(GET pair 0 in)
    list(GET pair 1 out)
    if(NOT IS_ABSOLUTE "${in}")
        set(in "${CMAKE_SOURCE_DIR}/${in}")
    endif()
    set(out "${CMAKE_BINARY_DIR}/${out}")
    get_filename_component(outdir "${out}" DIRECTORY)
    add_custom_command(OUTPUT "${out}"
                       COMMAND ${CMAKE_COMMAND} -E make_directory "${outdir}"
                       COMMAND ${TOUCHLINE_GZIP} -9n -c "${in}" > "${out}"
                       DEPENDS "${in}" VERBATIM)
    list(APPEND TOUCHLINE_GZIPPED "${out}")
endforeach()
add_custom_target(touchline_gzipped ALL DEPENDS ${TOUCHLINE_GZIPPED})
install(FILES ${CMAKE_BINARY_DIR}/man/touchline.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_BINARY_DIR}/man/touchlined.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
# The one lintian tag the package earns on purpose: its configuration is not world-readable.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME touchline)
# /usr/share/doc/touchline: the copyright file, the changelog and the guides.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/copyright
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/touchline)
install(FILES ${CMAKE_BINARY_DIR}/packaging/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/touchline)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/deploy.md
              ${CMAKE_SOURCE_DIR}/docs/client.md ${CMAKE_SOURCE_DIR}/docs/api.md
              ${CMAKE_SOURCE_DIR}/docs/protocol.md ${CMAKE_SOURCE_DIR}/docs/reliability.md
              ${CMAKE_SOURCE_DIR}/docs/identity.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/touchline)
# bash-completion loads completions/<command> on first use: one file serves both commands.
foreach(cmd touchline touchlined)
    install(FILES ${CMAKE_SOURCE_DIR}/packaging/touchline.bash-completion
            DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME ${cmd})
endforeach()

set(TOUCHLINE_INSTALL_SYSTEM_CODE [=[
get_filename_component(tl_leaf "${CMAKE_INSTALL_PREFIX}" NAME)
if(tl_leaf STREQUAL "usr")
    get_filename_component(tl_root "${CMAKE_INSTALL_PREFIX}" DIRECTORY)
    if(tl_root STREQUAL "/")
        set(tl_root "")
    endif()
    set(tl_etc "${tl_root}/etc")
    set(tl_unitdir "${tl_root}/lib/systemd/system")
    # What the unit names at run time: the package's (or /usr's) own paths.
    set(tl_run_sbin "/usr/@TL_SBINDIR@")
    set(tl_run_bin "/usr/@TL_BINDIR@")
    set(tl_run_etc "/etc")
else()
    set(tl_etc "${CMAKE_INSTALL_PREFIX}/etc")
    set(tl_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
    set(tl_run_sbin "${CMAKE_INSTALL_PREFIX}/@TL_SBINDIR@")
    set(tl_run_bin "${CMAKE_INSTALL_PREFIX}/@TL_BINDIR@")
    set(tl_run_etc "${tl_etc}")
endif()

# The configuration file: an administrator's edited copy is never overwritten (the package
# has dpkg's conffile handling for that).
set(tl_conf "${tl_etc}/touchline/touchlined.conf")
if(EXISTS "$ENV{DESTDIR}${tl_conf}")
    message(STATUS "Keeping: $ENV{DESTDIR}${tl_conf} (exists)")
else()
    # Not world-readable: it may come to hold the DSN's password and token hashes.
    file(INSTALL DESTINATION "${tl_etc}/touchline" TYPE FILE
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
         FILES "@TL_SOURCE_DIR@/config/touchlined.conf")
endif()

# The units: the daemon's, and the template of `touchline import cdr --follow` (one instance
# per Asterisk), naming the installed programs and configuration.
foreach(tl_name touchlined.service touchline-cdr-follow@.service)
    file(READ "@TL_SOURCE_DIR@/packaging/${tl_name}" tl_unit)
    string(REPLACE "/usr/sbin/touchlined" "${tl_run_sbin}/touchlined" tl_unit "${tl_unit}")
    string(REPLACE "/usr/bin/touchline" "${tl_run_bin}/touchline" tl_unit "${tl_unit}")
    string(REPLACE "/etc/touchline/" "${tl_run_etc}/touchline/" tl_unit "${tl_unit}")
    file(WRITE "@TL_BINARY_DIR@/packaging/${tl_name}" "${tl_unit}")
    file(INSTALL DESTINATION "${tl_unitdir}" TYPE FILE FILES "@TL_BINARY_DIR@/packaging/${tl_name}")
endforeach()
]=])
set(TL_SBINDIR ${CMAKE_INSTALL_SBINDIR})
set(TL_BINDIR ${CMAKE_INSTALL_BINDIR})
set(TL_SOURCE_DIR ${CMAKE_SOURCE_DIR})
set(TL_BINARY_DIR ${CMAKE_BINARY_DIR})
string(CONFIGURE "${TOUCHLINE_INSTALL_SYSTEM_CODE}" TOUCHLINE_INSTALL_SYSTEM_CODE @ONLY)
install(CODE "${TOUCHLINE_INSTALL_SYSTEM_CODE}")

# --- the Debian package ---------------------------------------------------------------------

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME touchline)
set(CPACK_PACKAGE_VENDOR touchline)
set(CPACK_PACKAGE_CONTACT "${TOUCHLINE_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "one timeline per customer from call-center, SMS, mail, chat and web records")
# One line per line of the control file's description (kept under 80 columns).
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "touchlined collects customer interaction records from adapters over TCP\n"
       "(NDJSON) and HTTP, resolves each to one customer by any of their identifiers\n"
       "and stores one timeline per customer in PostgreSQL. touchline, the client,\n"
       "shows a customer's timeline and context to an agent and records interactions\n"
       "from scripts. Includes the systemd units (touchlined, Type=notify; and\n"
       "touchline-cdr-follow@, which sends Asterisk's calls as they are written),\n"
       "man pages and bash completion.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends comes from the binaries' shared libraries (dpkg-shlibdeps, from dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst creates the daemon's system user with adduser; the libraries' packages follow.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Source packages (cpack --config CPackSourceConfig.cmake) leave build trees out.
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/run/")
include(CPack)
