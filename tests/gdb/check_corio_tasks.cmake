# SPDX-License-Identifier: MIT
# Runs `corio tasks` in gdb on gdb_target stopped at corio_gdb_stop_here(), then on a core file
# of it made there (generate-core-file), and checks that both list each task with its name,
# creation place, the wait it is parked on and who awaits it. gdb needs ptrace: where it is
# refused, the test fails saying so (it does not skip).
# CORE_CHECK=OFF (sanitizer builds) leaves the core file out: the sanitizers' shadow
# mappings would make it tens of gigabytes.
set(core ${WORK_DIR}/gdb_target.core)
file(REMOVE ${core})
set(make_core)
if(CORE_CHECK)
  set(make_core -ex "generate-core-file ${core}")
endif()
execute_process(
  COMMAND ${GDB} -nx -batch -x ${SCRIPT} -ex "break corio_gdb_stop_here" -ex run
          -ex "corio tasks" -ex "corio tasks all" ${make_core} -ex kill ${TARGET}
  OUTPUT_VARIABLE live ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${live}")
if(err MATCHES "ptrace|Operation not permitted")
  message(FATAL_ERROR "gdb cannot trace gdb_target here (ptrace refused):\n${err}")
endif()
if(NOT rc EQUAL 0 OR err MATCHES "Traceback|Python Exception")
  message(FATAL_ERROR "gdb failed (${rc}):\n${err}")
endif()
set(from_core)
if(CORE_CHECK)
  if(NOT EXISTS ${core})
    message(FATAL_ERROR "gdb made no core file:\n${err}")
  endif()
  file(SIZE ${core} core_size)
  if(core_size GREATER 268435456)  # the frame arena's reservation must stay out of it
    message(FATAL_ERROR "the core file is ${core_size} bytes")
  endif()
  execute_process(
    COMMAND ${GDB} -nx -batch -x ${SCRIPT} -ex "corio tasks" -ex "corio tasks all" ${TARGET} ${core}
    OUTPUT_VARIABLE from_core ERROR_VARIABLE err RESULT_VARIABLE rc)
  message("${from_core}")
  file(REMOVE ${core})
  if(NOT rc EQUAL 0 OR err MATCHES "Traceback|Python Exception")
    message(FATAL_ERROR "gdb failed on the core file (${rc}):\n${err}")
  endif()
endif()

set(created "  \\+ Created at: File '[^']*gdb_target\\.cpp', line [0-9]+, in main_task\n")
set(expected
  "\\* Task\\(name='main', id=0x[0-9a-f]+\\)\n  \\+ Created at: File '[^']*gdb_target\\.cpp', line [0-9]+, in main\n  \\+ Running or ready to run\n"
  "\\* Task\\(name='sleeper', id=0x[0-9a-f]+\\)\n${created}  \\+ Suspended at: sleep, deadline at [0-9.]+ s on the loop's clock\n  \\+ Awaited by:\n     \\* Task\\(name='joiner', id=0x[0-9a-f]+\\)\n"
  "\\* Task\\(name='getter', id=0x[0-9a-f]+\\)\n${created}  \\+ Suspended at: queue get\n"
  "\\* Task\\(name='reader', id=0x[0-9a-f]+\\)\n${created}  \\+ Suspended at: accept on fd [0-9]+\n"
  "\\* Task\\(name='joiner', id=0x[0-9a-f]+\\)\n${created}  \\+ Suspended at: await task 'sleeper'\n"
  "\\* Task\\(name='gatherer', id=0x[0-9a-f]+\\)\n${created}  \\+ Suspended at: gather of 2 children\n\\* Task\\(name='gather child 0', id=0x[0-9a-f]+\\)\n  \\+ Suspended at: sleep, deadline at [0-9.]+ s on the loop's clock\n  \\+ Awaited by:\n     \\* Task\\(name='gatherer', id=0x[0-9a-f]+\\)\n\\* Task\\(name='gather child 1', id=0x[0-9a-f]+\\)\n  \\+ Suspended at: queue get\n  \\+ Awaited by:\n     \\* Task\\(name='gatherer'"
  "\\* Task\\(name='timed', id=0x[0-9a-f]+\\)\n${created}  \\+ Suspended at: wait_for, deadline at [0-9.]+ s on the loop's clock\n\\* Task\\(name='wait_for child', id=0x[0-9a-f]+\\)\n  \\+ Suspended at: sleep, deadline at [0-9.]+ s on the loop's clock\n  \\+ Awaited by:\n     \\* Task\\(name='timed'"
  "Thread [0-9]+, loop 0x[0-9a-f]+:\n\\* Task\\(name='main'")
set(sources live)
if(CORE_CHECK)
  list(APPEND sources from_core)
endif()
foreach(source IN LISTS sources)
  foreach(pattern IN LISTS expected)
    if(NOT ${source} MATCHES "${pattern}")
      message(FATAL_ERROR "corio tasks (${source}): no match for\n${pattern}")
    endif()
  endforeach()
endforeach()
