# The LAMMPS the plugin is built for, following the convention of upstream LAMMPS plugins:
# LAMMPS_SOURCE_DIR is the src/ folder of that LAMMPS tree. The plugin must be compiled with
# the same version and the same settings (integer sizes, exceptions) as the lmp that loads it.
#
# Provides: the INTERFACE target cephalo_lammps_headers, LAMMPS_VERSION_NUMBER (YYYYMMDD),
# and, when LAMMPS_BINARY_DIR holds a built LAMMPS, LAMMPS_EXECUTABLE and LAMMPS_LIBRARY.

set(LAMMPS_SOURCE_DIR "" CACHE PATH "src/ folder of the LAMMPS tree the plugin is built for")
set(LAMMPS_BINARY_DIR "" CACHE PATH
    "Build folder of that LAMMPS (optional: its lmp runs the tests, its settings are read)")

if(NOT LAMMPS_SOURCE_DIR)
  message(FATAL_ERROR
    "The LAMMPS plugin needs LAMMPS_SOURCE_DIR, the src/ folder of the LAMMPS you run "
    "(-DLAMMPS_SOURCE_DIR=/path/to/lammps/src). 'bash cmake/dev.sh setup' fetches and builds "
    "Debian's LAMMPS for this. Or configure with -DCEPHALO_BUILD_PLUGIN=OFF.")
endif()
get_filename_component(LAMMPS_SOURCE_DIR "${LAMMPS_SOURCE_DIR}" ABSOLUTE)
if(NOT EXISTS "${LAMMPS_SOURCE_DIR}/lammpsplugin.h" OR NOT EXISTS "${LAMMPS_SOURCE_DIR}/version.h")
  message(FATAL_ERROR "LAMMPS_SOURCE_DIR=${LAMMPS_SOURCE_DIR} is not a LAMMPS src/ folder with "
                      "plugin support (no lammpsplugin.h or version.h); LAMMPS 8Apr2021 or newer "
                      "is needed")
endif()

# "29 Sep 2021" -> 20210929
file(STRINGS "${LAMMPS_SOURCE_DIR}/version.h" _lammps_version_line REGEX "define LAMMPS_VERSION ")
string(REGEX MATCH "\"([0-9]+) ([A-Za-z]+) ([0-9]+)\"" _match "${_lammps_version_line}")
if(NOT _match)
  message(FATAL_ERROR "Cannot read LAMMPS_VERSION from ${LAMMPS_SOURCE_DIR}/version.h")
endif()
set(_months Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)
list(FIND _months "${CMAKE_MATCH_2}" _month)
math(EXPR _month "${_month} + 1")
math(EXPR LAMMPS_VERSION_NUMBER "${CMAKE_MATCH_3} * 10000 + ${_month} * 100 + ${CMAKE_MATCH_1}")
set(LAMMPS_VERSION_STRING "${CMAKE_MATCH_1} ${CMAKE_MATCH_2} ${CMAKE_MATCH_3}")

# Settings of the LAMMPS build, read from its cache when there is one.
set(_lammps_sizes smallbig)
set(_lammps_exceptions OFF)
if(LAMMPS_BINARY_DIR AND EXISTS "${LAMMPS_BINARY_DIR}/CMakeCache.txt")
  load_cache("${LAMMPS_BINARY_DIR}" READ_WITH_PREFIX _lmpcache_ LAMMPS_SIZES LAMMPS_EXCEPTIONS)
  if(_lmpcache_LAMMPS_SIZES)
    set(_lammps_sizes ${_lmpcache_LAMMPS_SIZES})
  endif()
  if(DEFINED _lmpcache_LAMMPS_EXCEPTIONS)
    set(_lammps_exceptions ${_lmpcache_LAMMPS_EXCEPTIONS})
  endif()
endif()
set(LAMMPS_SIZES ${_lammps_sizes} CACHE STRING "LAMMPS integer sizes: smallbig, bigbig, smallsmall")
set(LAMMPS_EXCEPTIONS ${_lammps_exceptions} CACHE BOOL "LAMMPS built with LAMMPS_EXCEPTIONS")

set(MPI_CXX_SKIP_MPICXX TRUE)
find_package(MPI REQUIRED COMPONENTS C CXX)

add_library(cephalo_lammps_headers INTERFACE)
target_include_directories(cephalo_lammps_headers SYSTEM INTERFACE "${LAMMPS_SOURCE_DIR}")
string(TOUPPER "${LAMMPS_SIZES}" _sizes)
target_compile_definitions(cephalo_lammps_headers INTERFACE LAMMPS_${_sizes}
                           LAMMPS_VERSION_NUMBER=${LAMMPS_VERSION_NUMBER})
if(LAMMPS_EXCEPTIONS)
  target_compile_definitions(cephalo_lammps_headers INTERFACE LAMMPS_EXCEPTIONS)
endif()
# LAMMPS's C++ API changes between releases: test the headers for each feature the plugin
# uses in two ways, rather than guess from version dates.
function(_cephalo_lammps_feature header regex definition)
  file(STRINGS "${LAMMPS_SOURCE_DIR}/${header}" _found REGEX "${regex}")
  if(_found)
    target_compile_definitions(cephalo_lammps_headers INTERFACE ${definition})
  endif()
endfunction()
# neighbor->add_request() (2022) replaced neighbor->request() and the NeighRequest flags
_cephalo_lammps_feature(neighbor.h "add_request\\(" CEPHALO_LAMMPS_ADD_REQUEST)
# before 2022, build_one() reused an occasional list built at the same timestep as a later
# reneighboring (two runs at one step); its preflag argument forces the rebuild
_cephalo_lammps_feature(neighbor.h "build_one\\(.*int preflag" CEPHALO_LAMMPS_BUILD_ONE_PREFLAG)
# comm->forward_comm_compute() became the overload comm->forward_comm(Compute *)
_cephalo_lammps_feature(comm.h "forward_comm_compute\\(" CEPHALO_LAMMPS_FORWARD_COMM_COMPUTE)
# domain->find_region() and the regions array became domain->get_region_by_id()
_cephalo_lammps_feature(domain.h "get_region_by_id\\(" CEPHALO_LAMMPS_REGION_BY_ID)
target_link_libraries(cephalo_lammps_headers INTERFACE MPI::MPI_CXX)

set(LAMMPS_EXECUTABLE "" CACHE FILEPATH "lmp that loads the plugin in tests and the demo")
set(LAMMPS_LIBRARY "" CACHE FILEPATH "liblammps the benchmark programs link")
if(LAMMPS_BINARY_DIR)
  if(NOT LAMMPS_EXECUTABLE AND EXISTS "${LAMMPS_BINARY_DIR}/lmp")
    set(LAMMPS_EXECUTABLE "${LAMMPS_BINARY_DIR}/lmp" CACHE FILEPATH "" FORCE)
  endif()
  if(NOT LAMMPS_LIBRARY AND EXISTS "${LAMMPS_BINARY_DIR}/liblammps.so")
    set(LAMMPS_LIBRARY "${LAMMPS_BINARY_DIR}/liblammps.so" CACHE FILEPATH "" FORCE)
  endif()
endif()

message(STATUS "LAMMPS ${LAMMPS_VERSION_STRING} (${LAMMPS_VERSION_NUMBER}) from ${LAMMPS_SOURCE_DIR}: "
               "sizes ${LAMMPS_SIZES}, exceptions ${LAMMPS_EXCEPTIONS}, lmp '${LAMMPS_EXECUTABLE}'")
