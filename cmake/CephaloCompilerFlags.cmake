# Warnings and sanitizers shared by every Cephalo target.

# Call on each first-party target; third-party headers come in as SYSTEM includes and stay quiet.
function(cephalo_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
                                           -Woverloaded-virtual -Wimplicit-fallthrough)
  if(CEPHALO_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Source paths relative to the checkout in error messages (LAMMPS prints __FILE__) and in
# objects, so that builds in different folders are identical and share ccache hits.
add_compile_options(-ffile-prefix-map=${CMAKE_SOURCE_DIR}/=)

if(CEPHALO_SANITIZE)
  set(_cephalo_sanitizers -fsanitize=address,undefined -fno-sanitize-recover=undefined
                          -fno-omit-frame-pointer)
  add_compile_options(${_cephalo_sanitizers})
  add_link_options(${_cephalo_sanitizers})
  # Programs that are not instrumented (lmp, mpirun) can only load an instrumented plugin with
  # the ASan runtime preloaded; tests read this to set LD_PRELOAD.
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE CEPHALO_ASAN_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libubsan.so
                  OUTPUT_VARIABLE CEPHALO_UBSAN_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
