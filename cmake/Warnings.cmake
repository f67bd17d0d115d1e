# mnemo_set_warnings(target): the warnings every mnemo target is built with.
function(mnemo_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wimplicit-fallthrough -Wno-missing-field-initializers)
  if(MNEMO_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
