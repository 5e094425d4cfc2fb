# SPDX-License-Identifier: MIT
# corio-gdb.py: gdb commands for programs built on corio.
#
#   (gdb) source tools/corio-gdb.py
#   (gdb) corio tasks            # the loop of the selected thread
#   (gdb) corio tasks all        # the loops of every thread
#   (gdb) corio tasks EXPR       # the loop at EXPR (a corio::detail::loop_core* or event_loop*)
#
# Lists every live task of an event loop: run()'s main task, each spawned
# task and the children of gathers and wait_for calls, with its name, where it
# was created, what it is suspended on and who awaits it (print_call_graph's
# shape). It only reads memory and debug info (it never calls a function in
# the inferior), so it works on a live process and on a core file alike. It needs
# a build with debug info (-g); the types it reads are corio's detail types
# and may change between corio versions, as the script that ships with them.

import re

import gdb

_SUSPENSION = "corio::detail::suspension"


def _string(value):
    try:
        if int(value) == 0:
            return ""
        return value.string()
    except gdb.error:
        return "<unreadable>"


def _location(where):
    line = int(where["line_"])
    if line == 0:
        return None
    return "File '%s', line %d, in %s" % (_string(where["file_"]), line, _string(where["function_"]))


def _function_at(address):
    """The name of the function at `address` (from the symbol table), or None."""
    if address == 0:
        return None
    try:
        block = gdb.block_for_pc(address)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            return block.function.name
    except RuntimeError:
        pass
    symbol = gdb.execute("info symbol 0x%x" % address, to_string=True).strip()
    return symbol.split(" in section")[0] if "No symbol" not in symbol else None


def _awaiter_class(describe_name):
    """'corio::detail::sleep_awaiter::describe(...)' -> 'corio::detail::sleep_awaiter'."""
    at = describe_name.rfind("::describe(")
    if at < 0:
        return describe_name[: -len("::describe")] if describe_name.endswith("::describe") else None
    return describe_name[:at]


def _enumerators_named(name):
    """'x<(ns::mode)0>' -> 'x<ns::mode::all>': a function's symbol spells an enum template
    argument as a cast, and clang's debug information names the type with the enumerator."""
    def enumerator(match):
        try:
            for field in gdb.lookup_type(match.group(1)).fields():
                if field.enumval == int(match.group(2)):
                    return "%s::%s" % (match.group(1), field.name.split("::")[-1])
        except (gdb.error, RuntimeError):
            pass
        return match.group(0)
    return re.sub(r"\(([A-Za-z_][\w:]*)\)(-?\d+)", enumerator, name)


def _derived(leaf, class_name):
    """The parked leaf (a suspension*) as a pointer to its own awaiter type, or None."""
    for name in (class_name, _enumerators_named(class_name)):
        try:
            return leaf.cast(gdb.lookup_type(name).pointer()).dereference()
        except (gdb.error, RuntimeError):
            continue
    return None


def _without_template_arguments(name):
    """'a::b<int, c<d> >::e' -> 'a::b::e'."""
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _ticks(time_point):
    """A std::chrono::time_point's count, in libstdc++'s layout or in libc++'s."""
    for point, duration in (("__d", "__r"), ("__d_", "__rep_")):
        try:
            return int(time_point[point][duration])
        except gdb.error:
            continue
    raise gdb.error("unknown std::chrono::time_point layout")


def _deadline(awaiter):
    ns = _ticks(awaiter["deadline_"])
    return "deadline at %.3f s on the loop's clock" % (ns / 1e9)


def _opcode(number):
    """'accept' for IORING_OP_ACCEPT (as the call graph names it), from the kernel header's enum."""
    try:
        name = str(gdb.parse_and_eval("(enum io_uring_op)%d" % number))
        if name.startswith("IORING_OP_"):
            return name[len("IORING_OP_"):].lower()
    except gdb.error:
        pass
    return "io_uring opcode %d" % number


def _io_wait(awaiter):
    """'recv on fd 7'; an openat (fd AT_FDCWD) without its fd, as the call graph says it."""
    name, fd = _opcode(int(awaiter["opcode_"])), int(awaiter["fd_"])
    return name if fd < 0 else "%s on fd %d" % (name, fd)


# What each corio awaiter waits for, by its class (without template arguments).
_AWAITERS = {
    "corio::detail::sleep_awaiter": lambda a: "sleep, " + _deadline(a),
    "corio::detail::wait_for_awaiter": lambda a: "wait_for, " + _deadline(a),
    "corio::detail::io_operation": _io_wait,
    "corio::join_handle::awaiter": lambda a: "await task '%s'" % _string(a["state_"]["name_"]),
    "corio::detail::basic_queue::get_awaiter": lambda a: "queue get",
    "corio::detail::basic_queue::put_awaiter": lambda a: "queue put",
    "corio::detail::basic_queue::join_awaiter": lambda a: "queue join",
    "corio::event::wait_awaiter": lambda a: "event wait",
    "corio::mutex::lock_awaiter": lambda a: "mutex lock",
    "corio::semaphore::acquire_awaiter": lambda a: "semaphore acquire",
    "corio::semaphore::acquire_guard_awaiter": lambda a: "semaphore acquire",
    "corio::condition::wait_awaiter": lambda a: "condition wait",
    "corio::barrier::wait_awaiter": lambda a: "barrier wait",
    "corio::detail::to_thread_awaiter": lambda a: "to_thread call",
    "corio::task_group::wait_awaiter": lambda a: "task_group wait",
}


def _describe_awaiter(class_name, awaiter):
    plain = _without_template_arguments(class_name)
    describe = _AWAITERS.get(plain)
    if describe is None and "gather" in plain:
        describe = lambda a: "gather of %d children" % int(a["started_"])  # those started
    if describe is None:
        return None
    try:
        return describe(awaiter)
    except gdb.error:
        return None


def _leaf(context):
    """The suspension* the task_context `context` is parked on, or None."""
    state = int(context["state_"]) & ~1
    if state == 0:
        return None
    return gdb.Value(state).cast(gdb.lookup_type(_SUSPENSION).pointer())


def _wait(context):
    """(text, class name, awaiter) of what `context` is parked on; text '' when not parked."""
    leaf = _leaf(context)
    if leaf is None:
        return "", None, None
    describe = int(leaf.dereference()["hooks_"].dereference()["describe"])
    name = _function_at(describe)
    if name is None:
        return "a wait at 0x%x" % int(leaf), None, None
    class_name = _awaiter_class(name)
    if class_name is None:
        return "a wait described by %s" % name, None, None
    awaiter = _derived(leaf, class_name)
    text = _describe_awaiter(class_name, awaiter) if awaiter is not None else None
    return (text if text else class_name), class_name, awaiter


def _suspension(context):
    """What the task_context `context` is parked on, as text ('' when not parked)."""
    return _wait(context)[0]


def _context_of(suspension):
    """The task_context address a suspension* (a joiner, a group's waiter) belongs to, or 0."""
    if int(suspension) == 0:
        return 0
    return int(suspension.dereference()["context_"]) & ~1


def _children(class_name, awaiter):
    """(name, task_context) of each child a gather or wait_for waits for that is parked."""
    plain = _without_template_arguments(class_name or "")
    context_type = gdb.lookup_type("corio::detail::task_context")
    out = []
    if awaiter is None:
        return out
    try:
        if "gather" in plain:
            # children_ is a std::unique_ptr<task_context[]>: its pointer is its first word.
            first = awaiter["children_"].address.cast(context_type.pointer().pointer()).dereference()
            for i in range(int(awaiter["started_"])):
                child = (first + i).dereference()
                if _leaf(child) is not None:  # finished children are not parked
                    out.append(("gather child %d" % i, child))
        elif plain == "corio::detail::wait_for_awaiter":
            if bool(awaiter["started_"]) and not bool(awaiter["finished_"]):
                out.append(("wait_for child", awaiter["child_"]))
    except gdb.error:
        pass
    return out


def _awaiter_of(task):
    """The context that waits for a spawned task: its joiner, else its task_group's wait()."""
    spawned = task.cast(gdb.lookup_type("corio::detail::spawned_task"))
    joiner = _context_of(spawned["joiner_"])
    group_address = int(spawned["group_and_flags_"]) & ~7  # three flags in the low bits
    if joiner != 0 or group_address == 0:
        return joiner
    try:
        state = gdb.Value(group_address).cast(
            gdb.lookup_type("corio::detail::task_group_state").pointer()
        )
        group = state.cast(gdb.lookup_type("corio::task_group").pointer())
        return _context_of(group.dereference()["waiter_"])
    except gdb.error:
        return 0


def _entries(name, location, context, awaited_by):
    """The task at `context` and, depth first, the gather and wait_for children it waits for."""
    text, class_name, awaiter = _wait(context)
    ident = int(context.address)
    yield (name, location, text, ident, awaited_by)
    for child_name, child in _children(class_name, awaiter):
        for entry in _entries(child_name, None, child, ident):
            yield entry


def _tasks(loop):
    """(name, location, suspension, id, awaited_by id) for run()'s main task and each spawned
    task, each followed by the children it waits for, as capture_call_graph() lists them."""
    loop = loop.dereference() if loop.type.strip_typedefs().code == gdb.TYPE_CODE_PTR else loop
    core = loop.cast(gdb.lookup_type("corio::detail::loop_core"))
    root = core["root_"]
    context = root["context"]
    if int(context) != 0:
        where = root["where"]
        for entry in _entries(_string(where["function_"]), _location(where), context.dereference(), 0):
            yield entry
    live_task = gdb.lookup_type("corio::detail::live_task")
    head = core["live_tasks_"]["head_"]
    head_address = int(head.address)
    node = head["next_"]
    count = 0
    while int(node) != head_address and count < 1000000:
        task = node.cast(live_task.pointer()).dereference()
        context = task.cast(gdb.lookup_type("corio::detail::task_context"))
        for entry in _entries(_string(task["name_"]), _location(task["where_"]), context,
                              _awaiter_of(task)):
            yield entry
        node = node.dereference()["next_"]
        count += 1


def _print_loop(loop):
    tasks = list(_tasks(loop))
    names = {ident: name for name, _, _, ident, _ in tasks}
    for name, location, suspension, ident, awaited_by in tasks:
        gdb.write("* Task(name='%s', id=0x%x)\n" % (name, ident))
        if location:
            gdb.write("  + Created at: %s\n" % location)
        if suspension:
            gdb.write("  + Suspended at: %s\n" % suspension)
        else:
            gdb.write("  + Running or ready to run\n")
        if awaited_by:
            gdb.write("  + Awaited by:\n     * Task(name='%s', id=0x%x)\n"
                      % (names.get(awaited_by, "?"), awaited_by))


def _current_loop():
    loop = gdb.parse_and_eval("'corio::detail::loop_core::current_'")
    return loop if int(loop) != 0 else None


class CorioPrefix(gdb.Command):
    """Commands for programs built on corio (see 'help corio tasks')."""

    def __init__(self):
        super().__init__("corio", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class CorioTasks(gdb.Command):
    """List the live tasks of a corio event loop: corio tasks [all | EXPR].

With no argument, the loop of the selected thread; 'all', the loops of every
thread; EXPR, the loop it evaluates to (a loop_core or event_loop, or a
pointer to one). Reads memory only: usable on a core file."""

    def __init__(self):
        super().__init__("corio tasks", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        argument = argument.strip()
        if argument and argument != "all":
            _print_loop(gdb.parse_and_eval(argument))
            return
        if argument != "all":
            loop = _current_loop()
            if loop is None:
                gdb.write("corio: no event loop runs on this thread (try 'corio tasks all')\n")
                return
            _print_loop(loop)
            return
        selected = gdb.selected_thread()
        try:
            for thread in gdb.selected_inferior().threads():
                thread.switch()
                try:
                    loop = _current_loop()
                except gdb.error:
                    loop = None
                if loop is not None:
                    gdb.write("Thread %d, loop 0x%x:\n" % (thread.num, int(loop)))
                    _print_loop(loop)
        finally:
            if selected is not None:
                selected.switch()


CorioPrefix()
CorioTasks()
