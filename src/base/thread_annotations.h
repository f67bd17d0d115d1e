// Clang's thread-safety annotations, so that the compiler checks which lock guards what. They
// expand to nothing under compilers that do not support them.
#pragma once

#if defined(__clang__)
#define MNEMO_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MNEMO_THREAD_ANNOTATION(x)
#endif

#define GUARDED_BY(x) MNEMO_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) MNEMO_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) MNEMO_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) MNEMO_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define CAPABILITY(x) MNEMO_THREAD_ANNOTATION(capability(x))
#define ACQUIRE(...) MNEMO_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) MNEMO_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define RELEASE(...) MNEMO_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define SCOPED_CAPABILITY MNEMO_THREAD_ANNOTATION(scoped_lockable)
#define NO_THREAD_SAFETY_ANALYSIS MNEMO_THREAD_ANNOTATION(no_thread_safety_analysis)
