// SPDX-License-Identifier: MIT
// A user's program with corio::tls: a client context on the system trust store.
#include <corio/corio.hpp>
#include <corio/tls.hpp>

int main() {
  const auto ctx = corio::tls::context::client();
  return ctx.verifies_peer() && !ctx.is_server() ? 0 : 1;
}
