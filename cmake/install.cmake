# Install rules: `cmake --install BUILD [--prefix P]`, honouring DESTDIR.
#
#   portauth, portreserve, portwatch   ${prefix}/sbin        (portwatch only when the target exists)
#   dropto, authbind                   ${prefix}/bin
#   man/*.1 *.5 *.8                    ${prefix}/share/man/manN
#   completions/bash/NAME              ${prefix}/share/bash-completion/completions/NAME
#   completions/zsh/_NAME              ${prefix}/share/zsh/vendor-completions/_NAME
#   completions/fish/NAME.fish         ${prefix}/share/fish/vendor_completions.d/NAME.fish
#   share/systemd/*.service            PORTAUTH_SYSTEMD_UNITDIR (default: ${prefix}/lib/systemd/system)
#   share/policies/*                   ${prefix}/share/portauth/policies
#   share/prometheus/*.yml             ${prefix}/share/portauth/prometheus
#   share/nginx/*                      ${prefix}/share/portauth/nginx
#   an empty policy tree               SYSCONFDIR/portauth/{byport,byaddr,byuid,reserve}, root 0755
#
# SYSCONFDIR follows GNUInstallDirs' special case, decided at install time so that
# `cmake --install build --prefix /usr` is right even when the build was configured
# for /usr/local: prefix /usr -> /etc, /opt/X -> /etc/opt/X, otherwise PREFIX/etc.
# A CMAKE_INSTALL_SYSCONFDIR given as an absolute path at configure time wins.
#
# Files belonging to a tool that is not built (portwatch before it lands) are skipped.

set(PORTAUTH_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "where systemd units go; relative to the install prefix, or absolute (Debian 12 packages: /lib/systemd/system)")

set(_portauth_tools portauth portreserve dropto portwatch authbind)

# True when FILE_NAME (a man page or completion) belongs to a known tool that this build does not produce.
function(_portauth_unbuilt_tool file_name out)
  set(${out} FALSE PARENT_SCOPE)
  foreach(tool IN LISTS _portauth_tools)
    if(file_name MATCHES "^_?${tool}(\\.fish|\\.[0-9])?$" AND NOT TARGET ${tool})
      set(${out} TRUE PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

# Programs.
install(TARGETS portauth portreserve RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
if(TARGET dropto)
  install(TARGETS dropto RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET authbind)
  install(TARGETS authbind RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET portwatch)
  install(TARGETS portwatch RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()

# Man pages, by section.
foreach(section 1 5 8)
  file(GLOB _pages CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.${section})
  foreach(page IN LISTS _pages)
    get_filename_component(_name ${page} NAME)
    _portauth_unbuilt_tool(${_name} _skip)
    if(NOT _skip)
      install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
    endif()
  endforeach()
endforeach()

# Shell completions.
set(_completion_dirs
    "bash|*|${CMAKE_INSTALL_DATADIR}/bash-completion/completions"
    "zsh|_*|${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions"
    "fish|*.fish|${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d")
foreach(entry IN LISTS _completion_dirs)
  string(REPLACE "|" ";" entry "${entry}")
  list(GET entry 0 _shell)
  list(GET entry 1 _pattern)
  list(GET entry 2 _dest)
  file(GLOB _files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/completions/${_shell}/${_pattern})
  foreach(file IN LISTS _files)
    get_filename_component(_name ${file} NAME)
    _portauth_unbuilt_tool(${_name} _skip)
    if(NOT _skip AND NOT IS_DIRECTORY ${file} AND NOT _name MATCHES "(~|\\.md)$")
      install(FILES ${file} DESTINATION ${_dest})
    endif()
  endforeach()
endforeach()

# systemd units: portauth.service always; portwatch.service when portwatch is built.
foreach(unit portauth portwatch)
  set(_unit_file ${PROJECT_SOURCE_DIR}/share/systemd/${unit}.service)
  if(EXISTS ${_unit_file} AND TARGET ${unit})
    install(FILES ${_unit_file} DESTINATION ${PORTAUTH_SYSTEMD_UNITDIR})
  endif()
endforeach()

# Example policies (README.md, the declarative list, setup.sh).
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/share/policies)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/share/policies/
          DESTINATION ${CMAKE_INSTALL_DATADIR}/portauth/policies
          USE_SOURCE_PERMISSIONS
          PATTERN "*~" EXCLUDE)
endif()

# Prometheus alerting rules and their promtool unit test (docs/portwatch.md).
install(FILES ${PROJECT_SOURCE_DIR}/share/prometheus/portauth-alerts.yml
              ${PROJECT_SOURCE_DIR}/share/prometheus/portauth-alerts.test.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/portauth/prometheus)
# nginx as an unprivileged user (README.md's tutorial).
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/share/nginx)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/share/nginx/
          DESTINATION ${CMAKE_INSTALL_DATADIR}/portauth/nginx
          PATTERN "*~" EXCLUDE)
endif()

# The empty policy tree, root:root 0755 (owners come from the installing user: root
# for a real install, fakeroot for a package). Existing entries are never touched.
set(_skeleton ${CMAKE_CURRENT_BINARY_DIR}/portauth-etc-skeleton/portauth)
foreach(sub byport byaddr byuid reserve)
  file(MAKE_DIRECTORY ${_skeleton}/${sub})
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(_portauth_sysconfdir_override "${CMAKE_INSTALL_SYSCONFDIR}")
else()
  set(_portauth_sysconfdir_override "")
endif()
install(CODE "
  set(_sysconfdir \"${_portauth_sysconfdir_override}\")
  if(NOT _sysconfdir)
    if(CMAKE_INSTALL_PREFIX MATCHES \"^/usr/?$\")
      set(_sysconfdir /etc)
    elseif(CMAKE_INSTALL_PREFIX MATCHES \"^/opt/(.+)\")
      set(_sysconfdir \"/etc/opt/\${CMAKE_MATCH_1}\")
    else()
      set(_sysconfdir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}\")
    endif()
  endif()
  string(REGEX REPLACE \"/+$\" \"\" _sysconfdir \"\${_sysconfdir}\")
  file(INSTALL \"${_skeleton}\" DESTINATION \"\${_sysconfdir}\"
       DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
")
