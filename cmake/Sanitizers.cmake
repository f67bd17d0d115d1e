# -DMNEMO_SANITIZE=address,undefined or -DMNEMO_SANITIZE=thread instruments every target.
if(MNEMO_SANITIZE)
  add_compile_options(-fsanitize=${MNEMO_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${MNEMO_SANITIZE})
endif()
