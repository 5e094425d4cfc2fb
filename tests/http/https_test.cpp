// SPDX-License-Identifier: MIT
// tests/http/https_test.cpp: http::get and http::client over https://, against a Python
// http.server wrapped in ssl, with certificates from a throwaway CA.
#include <corio/http/client.hpp>
#include <corio/tls.hpp>

#include <corio/event_loop.hpp>
#include <corio/task.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/child_process.hpp"
#include "support/io_uring_available.hpp"
#include "support/test_pki.hpp"

#include <openssl/x509_vfy.h>

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace http = corio::http;
using Catch::Matchers::ContainsSubstring;

namespace {

// HTTP/1.1 over TLS: GET /x answers "hello over tls /x" with a Content-Length; GET /close
// answers without one and ends the body by closing, with no close_notify (as many servers do).
constexpr const char* python_https_server = R"(
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("hello over tls " + self.path).encode()
        self.send_response(200)
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
)";

struct https_server {
  https_server()
      : process({"python3", "-c", python_https_server,
                 corio_test::test_pki::get().file("server.pem"),
                 corio_test::test_pki::get().file("server.key")}) {
    const std::string line = process.read_line();
    REQUIRE(!line.empty());
    url = "https://localhost:" + line;
  }
  corio_test::child_process process;  // killed by its destructor
  std::string url;
};

}  // namespace

TEST_CASE("http::get: fetches https:// with the server's certificate checked",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  https_server server;
  corio::run([&]() -> corio::task<> {
    // client_options::ca_file is a view: the file name lives here, for both calls.
    const std::string ca_file = corio_test::test_pki::get().file("ca.pem");
    const http::client_options options{.ca_file = ca_file};
    const http::response res = co_await http::get(server.url + "/pokemon/25", options);
    CHECK(res.status == 200);
    CHECK(res.body == "hello over tls /pokemon/25");
    // A body ended by the close, with no close_notify, is the whole body.
    const http::response closed = co_await http::get(server.url + "/close", options);
    CHECK(closed.status == 200);
    CHECK(closed.body == "hello over tls /close");
  }());
}

TEST_CASE("http::client: reuses one TLS connection for several https requests",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  https_server server;
  corio::run([&]() -> corio::task<> {
    const std::string ca_file = corio_test::test_pki::get().file("ca.pem");
    http::client client({.ca_file = ca_file});
    for (int i = 0; i < 3; ++i) {
      const http::response res = co_await client.get(server.url + "/" + std::to_string(i));
      CHECK(res.body == "hello over tls /" + std::to_string(i));
      CHECK(client.idle_connections() == 1);
    }
  }());
}

TEST_CASE("http::get: an https server the trust store does not know is refused",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  https_server server;
  corio::run([&]() -> corio::task<> {
    std::optional<std::system_error> error;
    try {
      co_await http::get(server.url + "/");
    } catch (const std::system_error& e) {
      error = e;
    }
    REQUIRE(error);
    CHECK(error->code() == std::error_code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                                           corio::tls::verify_category()));
    CHECK_THAT(error->what(), ContainsSubstring("pass a CA file"));
  }());
}

TEST_CASE("http::get: without corio/tls.hpp, https:// is refused with what to do",
          "[http][tls][io_uring]") {
  CORIO_TEST_REQUIRE_IO_URING();
  // This program includes corio/tls.hpp: take its hook away, as a program without it has none.
  const auto installed = std::exchange(corio::detail::connect_secure_stream, nullptr);
  corio::run([]() -> corio::task<> {
    std::string message;
    try {
      co_await http::get("https://127.0.0.1:1/");
    } catch (const std::invalid_argument& e) {
      message = e.what();
    }
    CHECK_THAT(message, ContainsSubstring("include <corio/tls.hpp>") &&
                            ContainsSubstring("corio::tls") && ContainsSubstring("libcurl"));
  }());
  corio::detail::connect_secure_stream = installed;
}
