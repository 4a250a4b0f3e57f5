# Third-party packages, found once at the top so that their imported targets are visible to
# every part and test that links a library depending on them.

find_package(Threads REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)

if(CEPHALO_BUILD_MODELS)
  find_package(Torch REQUIRED)
endif()

if(CEPHALO_BUILD_BRIDGE)
  find_package(cppzmq REQUIRED)
endif()

if(CEPHALO_BUILD_MESHING)
  find_package(CGAL REQUIRED)
  find_package(TBB REQUIRED)              # parallel self-intersection tests
  include(CGAL_TBB_support)
  find_package(Eigen3 REQUIRED NO_MODULE)    # Open3D's config refers to Eigen3::Eigen
  find_package(Open3D REQUIRED)
  find_package(PNG REQUIRED)
  find_library(LIB3MF_LIBRARY NAMES 3MF lib3MF REQUIRED)
  find_path(LIB3MF_INCLUDE_DIR NAMES Model/COM/NMR_DLLInterfaces.h PATH_SUFFIXES lib3mf REQUIRED)
endif()
