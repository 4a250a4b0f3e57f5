# Third-party packages, found once at the top so that their imported targets are visible to
# every part and test that links a library depending on them.

find_package(Threads REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)

if(CEPHALO_BUILD_MODELS)
  find_package(Torch REQUIRED)
  find_package(PNG REQUIRED)     # image decoding for the image processor
  find_package(JPEG REQUIRED)
  if(CEPHALO_BUILD_TESTS)
    # SentencePiece trains the tokenizer tests' model and checks our encoder against its own. Only
    # the tests link it: Debian's libsentencepiece exports a bundled protobuf that crashes a
    # process which also loads libtorch's libprotobuf, so models/ reads tokenizer.model itself.
    # find_path/find_library rather than pkg-config, so that a copy unpacked under
    # CMAKE_PREFIX_PATH is found as well.
    find_path(SENTENCEPIECE_INCLUDE_DIR NAMES sentencepiece_trainer.h REQUIRED)
    find_library(SENTENCEPIECE_LIBRARY NAMES sentencepiece REQUIRED)
    find_library(SENTENCEPIECE_TRAIN_LIBRARY NAMES sentencepiece_train REQUIRED)
    add_library(SentencePiece::sentencepiece UNKNOWN IMPORTED)
    set_target_properties(SentencePiece::sentencepiece PROPERTIES
      IMPORTED_LOCATION "${SENTENCEPIECE_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${SENTENCEPIECE_INCLUDE_DIR}")
    add_library(SentencePiece::train UNKNOWN IMPORTED)
    set_target_properties(SentencePiece::train PROPERTIES
      IMPORTED_LOCATION "${SENTENCEPIECE_TRAIN_LIBRARY}"
      INTERFACE_LINK_LIBRARIES SentencePiece::sentencepiece)
  endif()
endif()

if(CEPHALO_BUILD_BRIDGE)
  find_package(cppzmq REQUIRED)
  find_package(spdlog REQUIRED)    # cephalo-serve's log, one line per request
  find_package(Boost 1.74 REQUIRED)    # Asio (header-only): cephalo-serve's signals
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
