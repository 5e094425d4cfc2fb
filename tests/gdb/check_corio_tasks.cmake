# SPDX-License-Identifier: MIT
# Runs `corio tasks` in gdb on gdb_target stopped at corio_gdb_stop_here() and checks that it
# lists each task with its name, creation place and the wait it is parked on.
execute_process(
  COMMAND ${GDB} -nx -batch -x ${SCRIPT} -ex "break corio_gdb_stop_here" -ex run
          -ex "corio tasks" -ex "corio tasks all" -ex kill ${TARGET}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}")
if(NOT rc EQUAL 0 OR err MATCHES "Traceback|Python Exception")
  message(FATAL_ERROR "gdb failed (${rc}):\n${err}")
endif()

set(expected
  "\\* Task\\(name='main', id=0x[0-9a-f]+\\)\n  \\+ Created at: File '[^']*gdb_target\\.cpp', line [0-9]+, in main\n  \\+ Running or ready to run\n"
  "\\* Task\\(name='sleeper', id=0x[0-9a-f]+\\)\n  \\+ Created at: File '[^']*gdb_target\\.cpp', line [0-9]+, in main_task\n  \\+ Suspended at: sleep, deadline at [0-9.]+ s on the loop's clock\n"
  "\\* Task\\(name='getter', id=0x[0-9a-f]+\\)\n  \\+ Created at: File '[^']*gdb_target\\.cpp', line [0-9]+, in main_task\n  \\+ Suspended at: queue get\n"
  "\\* Task\\(name='reader', id=0x[0-9a-f]+\\)\n  \\+ Created at: File '[^']*gdb_target\\.cpp', line [0-9]+, in main_task\n  \\+ Suspended at: accept on fd [0-9]+\n"
  "\\* Task\\(name='joiner', id=0x[0-9a-f]+\\)\n  \\+ Created at: File '[^']*gdb_target\\.cpp', line [0-9]+, in main_task\n  \\+ Suspended at: await task 'sleeper'\n"
  "Thread [0-9]+, loop 0x[0-9a-f]+:\n\\* Task\\(name='main'")
foreach(pattern IN LISTS expected)
  if(NOT out MATCHES "${pattern}")
    message(FATAL_ERROR "corio tasks: no match for\n${pattern}")
  endif()
endforeach()
