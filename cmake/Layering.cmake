# mnemo_check_layering(layer [allowed...]): fails the configure step when a file in src/<layer>
# includes a header of a layer that DESIGN.md does not allow it to use. The link graph enforces
# the same rule for symbols; this catches header-only dependencies too.
function(mnemo_check_layering layer)
  set(allowed ${layer} ${ARGN})
  set(all_layers base flash storage protocol net server cluster replication)
  file(GLOB_RECURSE files ${PROJECT_SOURCE_DIR}/src/${layer}/*.h ${PROJECT_SOURCE_DIR}/src/${layer}/*.cc)
  foreach(file IN LISTS files)
    file(STRINGS ${file} includes REGEX "^#include \"[a-z_]+/")
    foreach(line IN LISTS includes)
      string(REGEX MATCH "\"([a-z_]+)/" _ "${line}")
      set(used ${CMAKE_MATCH_1})
      if(used IN_LIST all_layers AND NOT used IN_LIST allowed)
        message(FATAL_ERROR "layering: ${file} includes ${used}/, but ${layer} may use only: ${allowed}")
      endif()
    endforeach()
  endforeach()
endfunction()
