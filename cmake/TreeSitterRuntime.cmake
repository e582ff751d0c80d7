# Provides the target `tree_sitter_runtime`: the tree-sitter C runtime, either a system
# library or compiled from the `tree-sitter` sdist on PyPI (fetched with pip at build
# time, or given with PPOCODER_TREE_SITTER_SDIST for offline builds). Nothing of
# tree-sitter is committed to this repository.
if(PPOCODER_SYSTEM_TREE_SITTER)
  find_path(TREE_SITTER_INCLUDE_DIR tree_sitter/api.h REQUIRED)
  find_library(TREE_SITTER_LIBRARY tree-sitter REQUIRED)
  add_library(tree_sitter_runtime INTERFACE)
  target_include_directories(tree_sitter_runtime INTERFACE ${TREE_SITTER_INCLUDE_DIR})
  target_link_libraries(tree_sitter_runtime INTERFACE ${TREE_SITTER_LIBRARY})
  add_library(tree_sitter_internals INTERFACE)  # no private headers: the engine walks trees with the cursor
  return()
endif()

set(_ts_dir ${CMAKE_BINARY_DIR}/tree-sitter-sdist)
set(_ts_sdist "${PPOCODER_TREE_SITTER_SDIST}")
if(NOT _ts_sdist)
  file(GLOB _ts_found ${_ts_dir}/tree[-_]sitter-${PPOCODER_TREE_SITTER_VERSION}.tar.gz)
  if(NOT _ts_found)
    message(STATUS "Downloading the tree-sitter ${PPOCODER_TREE_SITTER_VERSION} sdist with pip")
    execute_process(
      COMMAND ${Python_EXECUTABLE} -m pip download --no-deps --no-binary=:all:
              tree-sitter==${PPOCODER_TREE_SITTER_VERSION} -d ${_ts_dir}
      RESULT_VARIABLE _ts_rc OUTPUT_QUIET)
    file(GLOB _ts_found ${_ts_dir}/tree[-_]sitter-${PPOCODER_TREE_SITTER_VERSION}.tar.gz)
    if(NOT _ts_rc EQUAL 0 OR NOT _ts_found)
      message(FATAL_ERROR "Could not download the tree-sitter sdist; pass "
                          "-DPPOCODER_TREE_SITTER_SDIST=/path/to/tree-sitter-${PPOCODER_TREE_SITTER_VERSION}.tar.gz "
                          "or -DPPOCODER_SYSTEM_TREE_SITTER=ON")
    endif()
  endif()
  list(GET _ts_found 0 _ts_sdist)
endif()

set(_ts_src ${_ts_dir}/src)
if(NOT EXISTS ${_ts_src}/stamp-${PPOCODER_TREE_SITTER_VERSION})
  file(REMOVE_RECURSE ${_ts_src})
  file(ARCHIVE_EXTRACT INPUT ${_ts_sdist} DESTINATION ${_ts_src})
  file(TOUCH ${_ts_src}/stamp-${PPOCODER_TREE_SITTER_VERSION})
endif()
file(GLOB_RECURSE _ts_lib_c ${_ts_src}/*/tree_sitter/core/lib/src/lib.c)
if(NOT _ts_lib_c)
  message(FATAL_ERROR "lib.c not found in ${_ts_sdist}")
endif()
list(GET _ts_lib_c 0 _ts_lib_c)
get_filename_component(_ts_lib_dir ${_ts_lib_c} DIRECTORY)   # .../lib/src
get_filename_component(_ts_lib_dir ${_ts_lib_dir} DIRECTORY) # .../lib

add_library(tree_sitter_runtime STATIC ${_ts_lib_c})
target_include_directories(tree_sitter_runtime PUBLIC ${_ts_lib_dir}/include PRIVATE ${_ts_lib_dir}/src)
# Keep the runtime's symbols out of the extension's dynamic symbol table so they never
# clash with the copy inside py-tree-sitter's own extension.
target_compile_definitions(tree_sitter_runtime PUBLIC TREE_SITTER_HIDE_SYMBOLS TREE_SITTER_HIDDEN_SYMBOLS
                           PRIVATE _POSIX_C_SOURCE=200112L _DEFAULT_SOURCE)
set_target_properties(tree_sitter_runtime PROPERTIES C_STANDARD 11 C_VISIBILITY_PRESET hidden)

# The runtime's private headers, for csrc/tree_walk.cpp: it reads parsed trees
# straight from the runtime's subtrees instead of through the cursor API. They
# match the compiled runtime exactly because both come from the same sdist.
add_library(tree_sitter_internals INTERFACE)
target_include_directories(tree_sitter_internals SYSTEM INTERFACE ${_ts_lib_dir}/src)
target_compile_definitions(tree_sitter_internals INTERFACE PPOCODER_TS_INTERNALS=1)
