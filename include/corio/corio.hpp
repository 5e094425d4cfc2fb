// SPDX-License-Identifier: MIT
// corio/corio.hpp: the umbrella header; includes every public corio header.
#pragma once

#include <corio/barrier.hpp>
#include <corio/call_graph.hpp>
#include <corio/condition.hpp>
#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/event.hpp>
#include <corio/event_loop.hpp>
#include <corio/file.hpp>
#include <corio/gather.hpp>
#include <corio/http/client.hpp>
#include <corio/http/headers.hpp>
#include <corio/http/message.hpp>
#include <corio/http/parser.hpp>
#include <corio/http/serialize.hpp>
#include <corio/http/server.hpp>
#include <corio/http/url.hpp>
#include <corio/mutex.hpp>
#include <corio/net/address.hpp>
#include <corio/net/buffered_reader.hpp>
#include <corio/net/tcp.hpp>
#include <corio/priority_queue.hpp>
#include <corio/queue.hpp>
#include <corio/race.hpp>
#include <corio/semaphore.hpp>
#include <corio/sleep.hpp>
#include <corio/source_location.hpp>
#include <corio/spawn.hpp>
#include <corio/task.hpp>
#include <corio/task_group.hpp>
#include <corio/testing.hpp>
#include <corio/to_thread.hpp>
#include <corio/wait_for.hpp>
#include <corio/yield.hpp>
