# mnemo_set_warnings(target): the warnings every mnemo target is built with.
function(mnemo_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wimplicit-fallthrough -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports -Wrestrict on `"literal" + std::string` at -O3, inside libstdc++ (GCC bug
    # 105329), which -Werror would turn into a failed Release build.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Checks every GUARDED_BY/REQUIRES/EXCLUDES of base/thread_annotations.h against the locks
    # held (base/mutex.h, base/spin_lock.h); GCC ignores the annotations. CI builds it with
    # -Werror in the clang-tsa preset.
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(MNEMO_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
