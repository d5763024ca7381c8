# Included by cpack once per generator (CPACK_PROJECT_CONFIG_FILE): tells the
# install rules of cmake/packaging.cmake, which cpack runs in this process,
# which systemd unit directory this generator's distributions use.
set(ENV{DROVER_CPACK_GENERATOR} "${CPACK_GENERATOR}")
